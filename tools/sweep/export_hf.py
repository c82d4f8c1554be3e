#!/usr/bin/python3
"""HF-BERT-like encoder written out by hand: additive attention mask
(1-mask)*NEG with NEG = finfo.min or -10000, erf GELU, token types."""
import sys, math, torch, torch.nn as nn
torch.manual_seed(0)
class Layer(nn.Module):
    def __init__(s, d, h, neg):
        super().__init__(); s.h = h; s.d = d
        s.q = nn.Linear(d, d); s.k = nn.Linear(d, d); s.v = nn.Linear(d, d); s.o = nn.Linear(d, d)
        s.ln1 = nn.LayerNorm(d, eps=1e-12); s.f1 = nn.Linear(d, 4*d); s.f2 = nn.Linear(4*d, d); s.ln2 = nn.LayerNorm(d, eps=1e-12)
    def split(s, x):
        b, t, _ = x.shape
        return x.view(b, t, s.h, s.d // s.h).permute(0, 2, 1, 3)
    def forward(s, x, ext):
        q, k, v = s.split(s.q(x)), s.split(s.k(x)), s.split(s.v(x))
        sc = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(s.d // s.h)
        sc = sc + ext
        p = torch.softmax(sc, dim=-1)
        c = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
        c = c.view(c.shape[0], c.shape[1], s.d)
        x = s.ln1(x + s.o(c))
        f = s.f1(x); f = f * 0.5 * (1.0 + torch.erf(f / math.sqrt(2.0)))
        return s.ln2(x + s.f2(f))
class Bert(nn.Module):
    def __init__(s, neg, vocab=1000, d=64, h=4, n=2, maxlen=64):
        super().__init__(); s.neg = neg
        s.we = nn.Embedding(vocab, d); s.pe = nn.Embedding(maxlen, d); s.te = nn.Embedding(2, d); s.ln = nn.LayerNorm(d, eps=1e-12)
        s.layers = nn.ModuleList([Layer(d, h, neg) for _ in range(n)])
        s.pool = nn.Linear(d, d); s.cls = nn.Linear(d, 3)
    def forward(s, ids, mask, tt):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = s.ln(s.we(ids) + s.pe(pos) + s.te(tt))
        ext = (1.0 - mask[:, None, None, :].to(torch.float32)) * s.neg
        for l in s.layers: x = l(x, ext)
        return s.cls(torch.tanh(s.pool(x[:, 0])))
neg = {"finfo": torch.finfo(torch.float32).min, "1e4": -10000.0}[sys.argv[1]]
m = Bert(neg).eval()
ids = torch.randint(0, 1000, (2, 16)); mask = torch.ones(2, 16, dtype=torch.long); mask[1, 10:] = 0; tt = torch.zeros(2, 16, dtype=torch.long)
dax = {k: {0: "b", 1: "s"} for k in ("ids", "mask", "tt")}; dax["out"] = {0: "b"}
torch.onnx.export(m, (ids, mask, tt), sys.argv[3], input_names=["ids", "mask", "tt"], output_names=["out"], dynamic_axes=dax, opset_version=int(sys.argv[2]), do_constant_folding=True)
