#!/usr/bin/python3
import sys, torch, torchvision
torch.manual_seed(0); torch.set_num_threads(1)
name, opset, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kw = dict(weights=None, weights_backbone=None)
m = getattr(torchvision.models.detection, name)(**kw).eval()
size = 320 if "320" in name else 512
x = [torch.rand(3, size, size)]
torch.onnx.export(m, (x,), out, input_names=["images"], output_names=["boxes", "scores", "labels"], opset_version=opset, do_constant_folding=True)
