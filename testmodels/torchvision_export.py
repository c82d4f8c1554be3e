#!/usr/bin/python3
"""Export a torchvision classifier to ONNX for ptq's tests.

    /usr/bin/python3 testmodels/torchvision_export.py NAME OUT.onnx

NAME is resnet18, mobilenet_v2 or efficientnet_b0. Debian's torchvision 0.14
has no pretrained weights offline, so the weights are a seeded random init.
Random init leaves BatchNormalization as the identity (mean 0, var 1), which
would make activation ranges unrealistic, so the BN statistics are first
estimated on a few batches of seeded random images in train mode (no weight
update). Input "input" 1x3x224x224 with a dynamic batch axis, output
"logits", opset 13. The same NAME always gives the same weights.
"""
import os
import sys

import torch
import torchvision

MODELS = {
    "resnet18": torchvision.models.resnet18,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
    "efficientnet_b0": torchvision.models.efficientnet_b0,
}


def main(argv):
    if len(argv) != 2 or argv[0] not in MODELS:
        print(__doc__, file=sys.stderr)
        return 2
    name, out = argv
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = MODELS[name](weights=None)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # cumulative average over the batches below
            m.reset_running_stats()
    model.train()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, 3, 224, 224, generator=g))
    model.eval()
    tmp = out + ".tmp"
    torch.onnx.export(
        model, torch.randn(1, 3, 224, 224, generator=g), tmp,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=13, do_constant_folding=True)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
