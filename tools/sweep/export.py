#!/usr/bin/python3
import sys, os, torch, torchvision, torch.nn as nn, math
torch.set_num_threads(1)
torch.manual_seed(0)
tv = torchvision.models
def bn_warm(model, shape):
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None; m.reset_running_stats()
    model.train()
    with torch.no_grad():
        for _ in range(2):
            try: model(torch.randn(4, *shape[1:]))
            except Exception as e: print("warm fail", e); break
    model.eval()

class Bert(nn.Module):
    def __init__(s, vocab=1000, d=64, heads=4, layers=2, maxlen=32, ncls=3):
        super().__init__()
        s.emb = nn.Embedding(vocab, d); s.pos = nn.Embedding(maxlen, d); s.ln = nn.LayerNorm(d)
        layer = nn.TransformerEncoderLayer(d, heads, 4*d, dropout=0.0, activation="gelu", batch_first=True)
        s.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        s.head = nn.Linear(d, ncls)
    def forward(s, ids, mask):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = s.ln(s.emb(ids) + s.pos(pos))
        x = s.enc(x, src_key_padding_mask=(mask == 0))
        return s.head(x[:, 0])

class Rnn(nn.Module):
    def __init__(s, kind):
        super().__init__()
        s.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(32, 48, num_layers=2, batch_first=True, bidirectional=(kind=="lstm"))
        s.fc = nn.Linear(48 * (2 if kind=="lstm" else 1), 10)
    def forward(s, x):
        y, _ = s.rnn(x)
        return s.fc(y[:, -1])

def build(name):
    img = (1, 3, 224, 224)
    if name == "inception_v3": return tv.inception_v3(weights=None, aux_logits=False, init_weights=True), (1,3,299,299)
    if name == "googlenet": return tv.googlenet(weights=None, aux_logits=False, init_weights=True), img
    if name in ("deeplabv3_mobilenet_v3_large", "fcn_resnet50", "lraspp_mobilenet_v3_large"):
        return getattr(tv.segmentation, name)(weights=None, weights_backbone=None, aux_loss=False), (1,3,256,256)
    if name == "bert": return Bert(), None
    if name in ("lstm", "gru"): return Rnn(name), (1, 20, 32)
    if name == "vit_b_16":
        m = tv.vit_b_16(weights=None); nn.init.normal_(m.heads.head.weight, std=0.02); return m, img
    return getattr(tv, name)(weights=None), img

def main(name, opset, out, dyn):
    model, shape = build(name)
    if name == "bert":
        model.eval()
        ids = torch.randint(0, 1000, (2, 16)); mask = torch.ones(2, 16, dtype=torch.long); mask[1, 10:] = 0
        args = (ids, mask); inames = ["ids", "mask"]
        dax = {"ids": {0: "b", 1: "s"}, "mask": {0: "b", 1: "s"}, "out": {0: "b"}} if dyn else None
    else:
        bn_warm(model, shape)
        args = (torch.randn(*shape),); inames = ["input"]
        dax = {"input": {0: "batch"}, "out": {0: "batch"}} if dyn else None
    class Wrap(nn.Module):
        def __init__(s, m): super().__init__(); s.m = m
        def forward(s, *a):
            y = s.m(*a)
            if isinstance(y, dict): y = y["out"]
            return y
    w = Wrap(model).eval()
    torch.onnx.export(w, args, out, input_names=inames, output_names=["out"], dynamic_axes=dax, opset_version=opset, do_constant_folding=True)

if __name__ == "__main__":
    name, opset, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dyn = len(sys.argv) > 4 and sys.argv[4] == "dyn"
    main(name, opset, out, dyn)
