#!/usr/bin/python3
"""PyTorch's own post-training quantization of the Fashion-MNIST classifiers,
the baseline ptq's int8 models must beat.

    /usr/bin/python3 testmodels/fmnist/torch_ptq.py [NAME...]

For each model (default: all four) this reloads weights/NAME.pt and runs FX
graph mode PTQ: backend onednn (torch.backends.quantized.engine), activations
observed by HistogramObserver (quint8, per tensor, affine, no reduce_range),
weights by PerChannelMinMaxObserver (qint8, per channel, symmetric), the
backend's default op coverage (get_default_qconfig_mapping("onednn") with
that qconfig), calibrated on the same 512 images (calib.npy) ptq uses.

It then measures, on the 1000 held-out images (test.npy, test_labels.npy):
  * in torch: the converted int8 model (onednn kernels) against the float
    torch model;
  * in ONNX Runtime: the same quantization exported as QDQ (opset 13) to
    torch_ptq/NAME.qdq.onnx and run by tools/ort/evaluate.mjs against the
    float NAME.onnx. torch 1.13 cannot export the reference
    (convert_to_reference_fx) model's per-channel weights, so the calibrated
    model is exported with every observer replaced by a fake-quant op with its
    scale and zero point and every quantized weight fake-quantized per channel
    (torch exports these as QuantizeLinear/DequantizeLinear pairs); where FX
    fused Conv+BN(+ReLU), the folded weights are the ones quantized, as in the
    int8 model.
SQNR = 10 log10(sum float^2 / sum (quant - float)^2) over all logits.
Results go to torch_ptq_baseline.json.
"""
import copy
import json
import os
import subprocess
import sys

import numpy as np
import torch
from torch.ao.quantization import QConfig, HistogramObserver, PerChannelMinMaxObserver, get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import prepare_fx, convert_fx, convert_to_reference_fx

import fmnist

REPO = os.path.abspath(os.path.join(fmnist.HERE, "..", ".."))


def sqnr(ref, q):
    ref, q = np.asarray(ref, np.float64), np.asarray(q, np.float64)
    return float(10 * np.log10((ref ** 2).sum() / ((q - ref) ** 2).sum()))


def top1(logits, y):
    return float((np.asarray(logits).argmax(1) == y).mean())


def qconfig_mapping():
    qc = QConfig(
        activation=HistogramObserver.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=False),
        weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric))
    return get_default_qconfig_mapping("onednn").set_global(qc), qc


def ort_eval(model, reference):
    out = subprocess.run(
        ["node", os.path.join(REPO, "tools", "ort", "evaluate.mjs"), model,
         "--data", os.path.join(fmnist.HERE, "test.npy"),
         "--labels", os.path.join(fmnist.HERE, "test_labels.npy"),
         "--reference", reference], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return json.loads(out.stdout)


class FakeQuantAct(torch.nn.Module):
    """Stands in for a calibrated activation observer: quantize-dequantize
    with the observer's scale and zero point."""

    def __init__(self, observer):
        super().__init__()
        scale, zp = observer.calculate_qparams()
        self.scale, self.zp = float(scale), int(zp)
        self.qmin, self.qmax = (0, 255) if observer.dtype == torch.quint8 else (-128, 127)

    def forward(self, x):
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zp, self.qmin, self.qmax)


class FakeQuantWeight(torch.nn.Module):
    """Parametrization: per-channel symmetric int8 quantize-dequantize of a
    weight, with the scales PerChannelMinMaxObserver gives."""

    def __init__(self, weight, observer):
        super().__init__()
        obs = observer()
        obs(weight.detach())
        scale, zp = obs.calculate_qparams()
        self.register_buffer("scale", scale.float())
        self.register_buffer("zp", zp.int())
        self.axis = obs.ch_axis

    def forward(self, w):
        return torch.fake_quantize_per_channel_affine(w, self.scale, self.zp, self.axis, -128, 127)


def fake_quant_model(prepared):
    """A copy of the calibrated FX model with each activation observer
    replaced by a fixed fake-quant and each weight the backend would quantize
    fake-quantized per channel."""
    import torch.nn.utils.parametrize as P
    fq = copy.deepcopy(prepared)
    for name, m in list(fq.named_modules()):
        if isinstance(m, torch.ao.quantization.ObserverBase) and "." not in name:
            setattr(fq, name, FakeQuantAct(m))
    for m in list(fq.modules()):
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and getattr(m, "qconfig", None) is not None:
            P.register_parametrization(m, "weight", FakeQuantWeight(m.weight, m.qconfig.weight))
    return fq


def run(name, calib, x, y):
    fmnist.seed(0)
    torch.backends.quantized.engine = "onednn"
    model = fmnist.MODELS[name]()
    model.load_state_dict(torch.load(os.path.join(fmnist.HERE, "weights", name + ".pt")))
    model.eval()
    mapping, qc = qconfig_mapping()
    with torch.no_grad():
        ref = model(x).numpy()
        prepared = prepare_fx(copy.deepcopy(model), mapping, example_inputs=(calib[:1],))
        for i in range(0, len(calib), 64):
            prepared(calib[i:i + 64])
        res = {"float_top1_torch": top1(ref, y)}
        try:
            q = convert_fx(copy.deepcopy(prepared))
            out = q(x).numpy()
            res.update(torch_int8_top1=top1(out, y), torch_int8_sqnr_db=sqnr(ref, out))
        except Exception as e:  # an op onednn has no int8 kernel for
            res["torch_int8_error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0])
        os.makedirs(os.path.join(fmnist.HERE, "torch_ptq"), exist_ok=True)
        qdq = os.path.join(fmnist.HERE, "torch_ptq", name + ".qdq.onnx")
        try:
            # torch 1.13 cannot export convert_to_reference_fx's per-channel
            # weights to ONNX, so the same quantization is expressed with
            # fake-quant ops, which it exports as QuantizeLinear +
            # DequantizeLinear pairs.
            fq = fake_quant_model(prepared)
            torch.onnx.export(fq, x[:1], qdq + ".tmp", input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
            os.replace(qdq + ".tmp", qdq)
            res["qdq_torch_sqnr_db"] = sqnr(ref, fq(x).numpy())
            e = ort_eval(qdq, os.path.join(fmnist.HERE, name + ".onnx"))
            res.update(ort_float_top1=e["ref_top1"], ort_qdq_top1=e["top1"], ort_qdq_sqnr_db=e["sqnr_db"],
                       qdq_model=os.path.relpath(qdq, REPO))
        except Exception as e:
            res["ort_error"] = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[-1] if str(e).strip() else "")
    return res


def main(names):
    names = names or list(fmnist.MODELS)
    calib = torch.from_numpy(np.load(os.path.join(fmnist.HERE, "calib.npy")))
    x = torch.from_numpy(np.load(os.path.join(fmnist.HERE, "test.npy")))
    y = np.load(os.path.join(fmnist.HERE, "test_labels.npy"))
    path = os.path.join(fmnist.HERE, "torch_ptq_baseline.json")
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            results = json.load(f).get("models", {})
    for n in names:
        results[n] = run(n, calib, x, y)
        print(n, json.dumps(results[n]), flush=True)
    doc = {
        "method": "PyTorch %s FX graph mode post-training static quantization" % torch.__version__,
        "engine": "onednn",
        "activations": "HistogramObserver, quint8, per-tensor affine, reduce_range=False",
        "weights": "PerChannelMinMaxObserver, qint8, per-channel symmetric",
        "op_coverage": "get_default_qconfig_mapping('onednn') with the qconfig above",
        "calibration": "testmodels/fmnist/calib.npy (512 training images)",
        "evaluation": "testmodels/fmnist/test.npy + test_labels.npy (1000 held-out test images)",
        "sqnr": "10*log10(sum(float^2)/sum((quant-float)^2)) over all logits, in dB",
        "fields": {
            "torch_int8_*": "converted int8 model run by torch (onednn kernels) vs the float torch model",
            "ort_*": "the same quantization exported as QDQ (opset 13; fake-quant ops with the calibrated scales) and run in ONNX Runtime 1.30 vs the float ONNX model in ONNX Runtime",
            "qdq_torch_sqnr_db": "that fake-quant model run in torch vs the float torch model (checks the export)",
        },
        "models": results,
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
