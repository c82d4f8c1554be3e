#!/usr/bin/python3
"""Train a Fashion-MNIST classifier and export it to ONNX.

    /usr/bin/python3 testmodels/fmnist/train.py [--export-only] NAME [NAME...]

NAME is cnn, resnet, mobilenetv2 or vit (see fmnist.py). Writes NAME.onnx
(opset 13, input "input" Nx1x28x28 with a dynamic batch axis, output
"logits" Nx10) and weights/NAME.pt (the state dict torch_ptq.py reloads).
--export-only re-exports NAME.onnx from weights/NAME.pt. Seeded; two threads; Adam with a cosine learning-rate schedule over a fixed
number of epochs, on the 60,000 training images.

BatchNormalization is kept in the exported graph (TrainingMode.PRESERVE on
an eval-mode model) rather than folded by the exporter, so that ptq's own
BN-folding pass has something to do.
"""
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import fmnist

EPOCHS = {"cnn": 3, "resnet": 3, "mobilenetv2": 3, "vit": 2}
LR = {"cnn": 2e-3, "resnet": 2e-3, "mobilenetv2": 3e-3, "vit": 2e-3}
BATCH = 128


def train(name):
    fmnist.seed(0)
    x, y = fmnist.load("train")
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = fmnist.MODELS[name]()
    opt = torch.optim.AdamW(model.parameters(), lr=LR[name], weight_decay=1e-4)
    steps = EPOCHS[name] * (len(x) // BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    g = torch.Generator().manual_seed(0)
    t0 = time.time()
    model.train()
    for epoch in range(EPOCHS[name]):
        perm = torch.randperm(len(x), generator=g)
        total = 0.0
        for i in range(len(x) // BATCH):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print("%s epoch %d loss %.4f (%.0fs)" % (name, epoch, total / (len(x) // BATCH), time.time() - t0), flush=True)
    model.eval()
    return model, time.time() - t0


def export(name, model):
    os.makedirs(os.path.join(fmnist.HERE, "weights"), exist_ok=True)
    torch.save(model.state_dict(), os.path.join(fmnist.HERE, "weights", name + ".pt"))
    out = os.path.join(fmnist.HERE, name + ".onnx")
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), out + ".tmp",
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=13, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    os.replace(out + ".tmp", out)


def accuracy(model):
    x, y = np.load(os.path.join(fmnist.HERE, "test.npy")), np.load(os.path.join(fmnist.HERE, "test_labels.npy"))
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def main(args):
    export_only = "--export-only" in args
    names = [a for a in args if a != "--export-only"]
    for n in names:
        if n not in fmnist.MODELS:
            print(__doc__, file=sys.stderr)
            return 2
    for n in names:
        if export_only:
            model, secs = fmnist.MODELS[n](), 0.0
            model.load_state_dict(torch.load(os.path.join(fmnist.HERE, "weights", n + ".pt")))
            model.eval()
        else:
            model, secs = train(n)
        export(n, model)
        print("%s: %.1fs training, torch top-1 on test.npy %.3f" % (n, secs, accuracy(model)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
