#!/usr/bin/python3
"""Make the transformer test models and their data, next to this script:

  encoder.onnx           2 pre-LN encoder layers, d_model 64, 4 heads, MLP 128
                         (GELU), sequence 16; input "input" Nx16x64 float32
                         (dynamic batch); outputs "logits" Nx4 (mean-pooled,
                         linear head) and "hidden" Nx16x64 (the final
                         LayerNorm's output, also consumed inside the graph).
  encoder_outliers.onnx  the same function with outlier activation channels:
                         in every LayerNorm that feeds a MatMul (ln1, ln2 of
                         each layer) channels 3, 17 and 42 are multiplied by
                         OUTLIER (gamma and beta), and the matching input rows
                         of the next Linear are divided by it, so the MatMul
                         inputs carry a few channels ~OUTLIER times larger than
                         the rest while the outputs stay the same (up to float
                         rounding), as in SmoothQuant's setting.
  calib.npy              256 input sequences for calibration
  eval.npy, eval_labels.npy  256 held-out sequences and their classes

Toy task: each sequence is N(0,1) noise with one of 4 fixed pattern vectors
added at 4 random positions; the class is which pattern. Trained for a few
hundred steps (seconds), seeded.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fmnist"))
from fmnist import EncoderBlock  # noqa: E402

SEQ, DIM, CLASSES = 16, 64, 4
OUTLIER_CHANNELS = [3, 17, 42]
OUTLIER = 40.0


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(EncoderBlock(DIM, 4, 128), EncoderBlock(DIM, 4, 128))
        self.ln = nn.LayerNorm(DIM)
        self.fc = nn.Linear(DIM, CLASSES)

    def forward(self, x):
        h = self.ln(self.blocks(x))
        return self.fc(h.mean(dim=1)), h


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(1234).standard_normal((CLASSES, DIM)).astype(np.float32)
    x = rng.standard_normal((n, SEQ, DIM)).astype(np.float32)
    y = rng.integers(0, CLASSES, n)
    for i in range(n):
        pos = rng.choice(SEQ, 4, replace=False)
        x[i, pos] += 1.5 * patterns[y[i]]
    return x, y.astype(np.int64)


def add_outliers(model):
    with torch.no_grad():
        for blk in model.blocks:
            for ln, nxt in ((blk.ln1, blk.att.qkv), (blk.ln2, blk.fc1)):
                ln.weight[OUTLIER_CHANNELS] *= OUTLIER
                ln.bias[OUTLIER_CHANNELS] *= OUTLIER
                nxt.weight[:, OUTLIER_CHANNELS] /= OUTLIER


def export(model, name):
    out = os.path.join(HERE, name)
    torch.onnx.export(
        model, torch.zeros(1, SEQ, DIM), out + ".tmp",
        input_names=["input"], output_names=["logits", "hidden"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}, "hidden": {0: "batch"}},
        opset_version=13, do_constant_folding=True)
    os.replace(out + ".tmp", out)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = Encoder()
    xtr, ytr = make_data(8192, 0)
    xtr, ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    model.train()
    for step in range(400):
        idx = torch.randint(0, len(xtr), (64,), generator=g)
        loss = F.cross_entropy(model(xtr[idx])[0], ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()

    calib, _ = make_data(256, 1)
    xev, yev = make_data(256, 2)
    np.save(os.path.join(HERE, "calib.npy"), calib)
    np.save(os.path.join(HERE, "eval.npy"), xev)
    np.save(os.path.join(HERE, "eval_labels.npy"), yev)

    with torch.no_grad():
        ref_logits, ref_hidden = model(torch.from_numpy(xev))
    export(model, "encoder.onnx")
    add_outliers(model)
    with torch.no_grad():
        logits, hidden = model(torch.from_numpy(xev))
        mx = model.blocks[0].ln1(torch.from_numpy(xev)).abs().amax(dim=(0, 1))
    export(model, "encoder_outliers.onnx")
    acc = float((ref_logits.argmax(1).numpy() == yev).mean())
    print("loss %.4f, eval top-1 %.3f" % (loss.item(), acc))
    print("outlier model: max |logits diff| %.2e, max |hidden diff| %.2e" % (
        (logits - ref_logits).abs().max().item(), (hidden - ref_hidden).abs().max().item()))
    others = [c for c in range(DIM) if c not in OUTLIER_CHANNELS]
    print("ln1 output max |x|: outlier channels %.1f, others %.1f" % (
        mx[OUTLIER_CHANNELS].max().item(), mx[others].max().item()))


if __name__ == "__main__":
    main()
