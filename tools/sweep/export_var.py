#!/usr/bin/python3
import sys, torch, torchvision, torch.nn as nn
torch.manual_seed(0); torch.set_num_threads(1)
tv = torchvision.models
def warm(m, shape):
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm): mod.momentum = None; mod.reset_running_stats()
    m.train()
    with torch.no_grad():
        for _ in range(2): m(torch.randn(4, *shape[1:]))
    m.eval(); return m
v = sys.argv[1]
if v == "resnet18_9_kiai":
    m = warm(tv.resnet18(weights=None), (1,3,224,224))
    torch.onnx.export(m, torch.randn(1,3,224,224), "models/resnet18_9_kiai.onnx", opset_version=9, keep_initializers_as_inputs=True, input_names=["input"], output_names=["out"])
elif v == "mobilenet_v2_10_dynhw":
    m = warm(tv.mobilenet_v2(weights=None), (1,3,224,224))
    torch.onnx.export(m, torch.randn(1,3,224,224), "models/mobilenet_v2_10_dynhw.onnx", opset_version=10, input_names=["input"], output_names=["out"], dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}, "out": {0: "n"}})
elif v == "squeezenet_7":
    m = tv.squeezenet1_0(weights=None).eval()
    torch.onnx.export(m, torch.randn(1,3,224,224), "models/squeezenet_7.onnx", opset_version=7, input_names=["input"], output_names=["out"])
elif v == "deeplab_9":
    m = warm(tv.segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, aux_loss=False), (1,3,256,256))
    class W(nn.Module):
        def __init__(s, m): super().__init__(); s.m = m
        def forward(s, x): return s.m(x)["out"]
    torch.onnx.export(W(m), torch.randn(1,3,256,256), "models/deeplab_9.onnx", opset_version=9, input_names=["input"], output_names=["out"])
elif v == "unet_convT_12":
    class U(nn.Module):
        def __init__(s):
            super().__init__()
            s.d1 = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            s.d2 = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.LeakyReLU(0.1))
            s.up = nn.ConvTranspose2d(32, 16, 2, stride=2)
            s.up2 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
            s.out = nn.Conv2d(48, 2, 1)
            s.prelu = nn.PReLU(16)
        def forward(s, x):
            a = s.d1(x); b = s.d2(a)
            u = s.prelu(s.up(b)); u2 = torch.sigmoid(s.up2(b)) * a
            y = s.out(torch.cat([a, u, u2], 1))
            return torch.nn.functional.interpolate(y, scale_factor=0.5, mode="bilinear", align_corners=False)
    m = warm(U(), (1,3,64,64))
    torch.onnx.export(m, torch.randn(1,3,64,64), "models/unet_convT_12.onnx", opset_version=12, input_names=["input"], output_names=["out"], dynamic_axes={"input": {0: "n"}, "out": {0: "n"}})
