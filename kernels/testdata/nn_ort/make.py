"""Builds single-node test cases for the NN kernels whose expected outputs
come from ONNX Runtime (operator versions and attributes that the ONNX 1.12
conformance data does not cover: opsets 17-19, antialias, aspect-ratio
policies, dilated pools, ...).

Run from the repository root with Debian's python (python3-onnx):
    /usr/bin/python3 kernels/testdata/nn_ort/make.py
It writes <case>/model.onnx and <case>/test_data_set_0/input_K.pb, runs
tools/ort/run.mjs on every case and stores ORT's outputs as output_K.pb.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
rng = np.random.default_rng(20261126)
cases = []


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def case(name, op, inputs, consts=None, attrs=None, opset=18, n_out=1, input_names=None):
    """inputs: list of arrays fed at run time; consts: list of (position, array or None)."""
    consts = consts or {}
    attrs = attrs or {}
    total = len(inputs) + len(consts)
    names, graph_inputs, inits, feeds = [], [], [], []
    it = iter(inputs)
    for k in range(total):
        if k in consts:
            if consts[k] is None:
                names.append("")
                continue
            nm = f"c{k}"
            inits.append(numpy_helper.from_array(consts[k], nm))
            names.append(nm)
        else:
            a = next(it)
            nm = f"x{k}"
            names.append(nm)
            graph_inputs.append(helper.make_tensor_value_info(nm, helper.np_dtype_to_tensor_dtype(a.dtype) if hasattr(helper, "np_dtype_to_tensor_dtype") else onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype], a.shape))
            feeds.append((nm, a))
    outs = [f"y{k}" for k in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    g = helper.make_graph([node], name, graph_inputs,
                          [helper.make_tensor_value_info(o, TensorProto.INT64 if (op == "MaxPool" and k == 1) else TensorProto.FLOAT, None)
                           for k, o in enumerate(outs)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    cases.append((name, m, feeds, outs))


# Resize, opsets 10-19
x = f32(1, 2, 6, 7)
case("resize_linear_antialias", "Resize", [x], {1: None, 2: np.array([1, 1, 0.6, 0.45], np.float32)}, dict(mode="linear", antialias=1))
case("resize_cubic_antialias_sizes", "Resize", [x], {1: None, 2: None, 3: np.array([1, 2, 4, 3], np.int64)}, dict(mode="cubic", antialias=1))
case("resize_not_larger_axes", "Resize", [x], {1: None, 2: None, 3: np.array([4, 9], np.int64)}, dict(mode="linear", axes=[2, 3], keep_aspect_ratio_policy="not_larger"))
case("resize_not_smaller_nearest", "Resize", [x], {1: None, 2: None, 3: np.array([3, 3], np.int64)}, dict(mode="nearest", axes=[3, 2], keep_aspect_ratio_policy="not_smaller"))
case("resize_half_pixel_symmetric", "Resize", [x], {1: None, 2: np.array([1, 1, 1.7, 0.8], np.float32)}, dict(mode="linear", coordinate_transformation_mode="half_pixel_symmetric"), opset=19)
case("resize10_nearest_up", "Resize", [x], {1: np.array([1, 1, 2, 1.5], np.float32)}, dict(mode="nearest"), opset=10)
case("resize10_nearest_down", "Resize", [x], {1: np.array([1, 1, 0.5, 0.6], np.float32)}, dict(mode="nearest"), opset=10)
case("resize10_linear", "Resize", [x], {1: np.array([1, 1, 2, 0.7], np.float32)}, dict(mode="linear"), opset=10)
case("resize_crop_axes", "Resize", [x], {1: np.array([0.2, 0.1, 0.9, 1.2], np.float32), 2: None, 3: np.array([5, 4], np.int64)},
     dict(mode="linear", axes=[2, 3], coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-3.0))
case("resize_nearest_ceil_asym", "Resize", [x], {1: None, 2: np.array([1, 1, 0.7, 1.3], np.float32)},
     dict(mode="nearest", nearest_mode="ceil", coordinate_transformation_mode="asymmetric"), opset=13)
case("resize_cubic_align_exclude", "Resize", [x], {1: None, 2: None, 3: np.array([1, 2, 9, 5], np.int64)},
     dict(mode="cubic", coordinate_transformation_mode="align_corners", exclude_outside=1, cubic_coeff_a=-0.5), opset=13)
case("resize_pytorch_half_pixel_linear", "Resize", [x], {1: None, 2: None, 3: np.array([1, 2, 3, 10], np.int64)},
     dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"), opset=13)
case("resize_trilinear", "Resize", [f32(1, 1, 3, 4, 5)], {1: None, 2: np.array([1, 1, 2, 1.5, 0.8], np.float32)}, dict(mode="linear"), opset=13)
case("upsample9_linear", "Upsample", [x], {1: np.array([1, 1, 2, 2], np.float32)}, dict(mode="linear"), opset=9)
case("upsample7_nearest", "Upsample", [x], {}, dict(mode="nearest", scales=[1.0, 1.0, 2.0, 3.0]), opset=7)

# pools
x = f32(2, 3, 9, 8)
case("avgpool_dilations_ceil", "AveragePool", [x], {}, dict(kernel_shape=[3, 2], dilations=[2, 1], strides=[2, 3], ceil_mode=1, pads=[1, 0, 1, 1]), opset=19)
case("avgpool_count_include_pad_ceil", "AveragePool", [x], {}, dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, pads=[1, 1, 1, 1], count_include_pad=1), opset=19)
case("avgpool_same_lower", "AveragePool", [x], {}, dict(kernel_shape=[4, 3], strides=[3, 2], auto_pad="SAME_LOWER"), opset=11)
case("lppool_p3", "LpPool", [x], {}, dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 0, 1], p=3), opset=11)
case("globallppool_p3", "GlobalLpPool", [x], {}, dict(p=3), opset=2)
case("maxpool_dil_ceil_idx", "MaxPool", [x], {}, dict(kernel_shape=[2, 3], dilations=[2, 2], strides=[2, 1], ceil_mode=1, pads=[0, 1, 1, 1]), opset=12, n_out=2)
case("maxpool_idx_colmajor", "MaxPool", [f32(2, 2, 5, 7)], {}, dict(kernel_shape=[2, 2], strides=[2, 2], storage_order=1), opset=12, n_out=2)
case("maxpool_3d", "MaxPool", [f32(1, 2, 5, 6, 4)], {}, dict(kernel_shape=[2, 3, 2], strides=[2, 2, 1], pads=[1, 0, 0, 0, 1, 1]), opset=12)

# normalizations
x = f32(2, 6, 4, 5)
case("groupnorm_18", "GroupNormalization", [x], {1: f32(3), 2: f32(3)}, dict(num_groups=3, epsilon=1e-3), opset=18)
case("groupnorm_21", "GroupNormalization", [x], {1: f32(6), 2: f32(6)}, dict(num_groups=2), opset=21)
case("layernorm_axis1_nobias", "LayerNormalization", [f32(3, 4, 5)], {1: f32(4, 5)}, dict(axis=1), opset=17, n_out=3)
case("layernorm_bcast_scale", "LayerNormalization", [f32(3, 4, 5)], {1: f32(5), 2: f32(1, 5)}, dict(axis=-2, epsilon=1e-3), opset=17)
case("instancenorm_3d", "InstanceNormalization", [f32(2, 3, 4, 2, 3)], {1: f32(3), 2: f32(3)}, dict(epsilon=1e-4), opset=6)
case("batchnorm9_2d", "BatchNormalization", [f32(4, 3)], {1: f32(3), 2: f32(3), 3: f32(3), 4: np.abs(f32(3)) + 0.1}, {}, opset=9)
case("lrn_5", "LRN", [x], {}, dict(size=5, alpha=0.01, beta=0.6, bias=2.0), opset=13)
case("mvn_axes", "MeanVarianceNormalization", [x], {}, dict(axes=[1, 3]), opset=13)

# conv family
case("conv_same_lower_s2_g2", "Conv", [f32(1, 4, 11, 10)], {1: f32(6, 2, 3, 3), 2: f32(6)}, dict(auto_pad="SAME_LOWER", strides=[2, 3], group=2), opset=11)
case("conv_depthwise_mult", "Conv", [f32(2, 3, 9, 9)], {1: f32(6, 1, 5, 5)}, dict(pads=[2, 1, 2, 0], strides=[1, 2], group=3), opset=11)
case("convtranspose_same_upper", "ConvTranspose", [f32(1, 2, 5, 4)], {1: f32(2, 3, 3, 3)}, dict(auto_pad="SAME_UPPER", strides=[2, 2]), opset=11)
case("convtranspose_same_lower", "ConvTranspose", [f32(1, 2, 5, 4)], {1: f32(2, 3, 4, 3)}, dict(auto_pad="SAME_LOWER", strides=[2, 3]), opset=11)
case("convtranspose_group_dil_outpad", "ConvTranspose", [f32(2, 4, 3, 5)], {1: f32(4, 2, 3, 2), 2: f32(4)},
     dict(group=2, dilations=[2, 1], strides=[3, 2], output_padding=[1, 1], pads=[1, 0, 0, 1]), opset=11)
case("convtranspose_1d_output_shape", "ConvTranspose", [f32(1, 3, 6)], {1: f32(3, 2, 4)}, dict(strides=[2], output_shape=[15]), opset=11)
case("col2im", "Col2Im", [f32(2, 3 * 4, 9)], {1: np.array([5, 6], np.int64), 2: np.array([2, 2], np.int64)},
     dict(strides=[2, 2], pads=[1, 0, 0, 1], dilations=[1, 2]), opset=18)

# matmul family
case("matmul_1d_left", "MatMul", [f32(4), f32(3, 4, 5)], {}, {}, opset=13)
case("matmul_1d_right", "MatMul", [f32(2, 3, 4), f32(4)], {}, {}, opset=13)
case("matmul_1d_both", "MatMul", [f32(7), f32(7)], {}, {}, opset=13)
case("matmul_bcast", "MatMul", [f32(2, 1, 3, 4), f32(5, 4, 2)], {}, {}, opset=13)
case("gemm_transA_vecC", "Gemm", [f32(4, 3), f32(5, 4)], {2: f32(5)}, dict(transA=1, transB=1, alpha=0.7, beta=0.5), opset=13)
case("gemm_colC", "Gemm", [f32(3, 4), f32(4, 5)], {2: f32(3, 1)}, dict(beta=2.0), opset=13)
case("einsum_bmm", "Einsum", [f32(2, 3, 4), f32(2, 4, 5)], {}, dict(equation="bij,bjk->bik"), opset=12)
case("einsum_attention", "Einsum", [f32(1, 2, 5, 8), f32(1, 2, 6, 8)], {}, dict(equation="bhqd,bhkd->bhqk"), opset=12)
case("einsum_sum_implicit", "Einsum", [f32(3, 4), f32(4)], {}, dict(equation="ij,j"), opset=12)
case("einsum_ellipsis_bcast", "Einsum", [f32(2, 1, 3, 4), f32(2, 5, 4, 2)], {}, dict(equation="...ij,...jk->...ik"), opset=12)

# softmax family and space ops
x = f32(2, 3, 4, 5)
case("softmax11_axis1", "Softmax", [x], {}, dict(axis=1), opset=11)
case("logsoftmax13_axis1", "LogSoftmax", [x], {}, dict(axis=1), opset=13)
case("hardmax11_axis2", "Hardmax", [x], {}, dict(axis=2), opset=11)
case("depthtospace_crd3", "DepthToSpace", [f32(1, 18, 2, 3)], {}, dict(blocksize=3, mode="CRD"), opset=13)
case("spacetodepth3", "SpaceToDepth", [f32(2, 2, 6, 3)], {}, dict(blocksize=3), opset=13)

# added later; appended so earlier cases keep their random inputs
x = f32(2, 3, 4, 5)
case("lpnorm_p1_axis1", "LpNormalization", [x], {}, dict(axis=1, p=1), opset=1)
case("lpnorm_p2_last", "LpNormalization", [x], {}, dict(p=2), opset=1)
case("maxunpool_pads", "MaxUnpool", [f32(1, 2, 3, 3)], {1: np.array([[[[0, 3, 4], [10, 12, 14], [20, 22, 24]], [[25, 27, 29], [35, 37, 39], [45, 47, 49]]]], np.int64)},
     dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 1, 1, 0]), opset=11)

case("resize_pytorch_half_pixel_out1_cubic", "Resize", [f32(1, 2, 6, 7)], {1: None, 2: None, 3: np.array([1, 2, 1, 4], np.int64)},
     dict(mode="cubic", coordinate_transformation_mode="pytorch_half_pixel"), opset=13)
# Not here on purpose: align_corners with scales whose scale*size is not an
# integer. ONNX's reference (and its conformance data) divides by
# scale*size-1, ONNX Runtime by output_size-1; we follow ONNX.

# GridSample (opsets 16 and 20), grid partly outside [-1, 1]
x = f32(2, 3, 5, 6)
grid = (rng.random((2, 4, 7, 2)).astype(np.float32) * 2.6 - 1.3)
for mode in ["bilinear", "nearest", "bicubic"]:
    for pad in ["zeros", "border", "reflection"]:
        for align in [0, 1]:
            case(f"gridsample_{mode}_{pad}_a{align}", "GridSample", [x, grid], {}, dict(mode=mode, padding_mode=pad, align_corners=align), opset=16)
case("gridsample20_linear", "GridSample", [x, grid], {}, dict(mode="linear"), opset=20)

# RoiAlign (opsets 10 and 16), boxes partly outside the map
x = f32(2, 3, 10, 12)
rois = np.array([[0, 0, 9, 9], [1.3, 2.2, 7.9, 4.1], [-2, -1, 5, 14], [6, 5, 14, 12], [2, 2, 2.5, 3]], np.float32)
bi = np.array([0, 1, 1, 0, 1], np.int64)
case("roialign10_avg", "RoiAlign", [x, rois, bi], {}, dict(output_height=3, output_width=4, sampling_ratio=2, spatial_scale=0.9), opset=10)
case("roialign16_avg_adaptive", "RoiAlign", [x, rois, bi], {}, dict(output_height=2, output_width=3, spatial_scale=1.0), opset=16)
case("roialign16_max", "RoiAlign", [x, rois, bi], {}, dict(mode="max", output_height=3, output_width=2, sampling_ratio=3), opset=16)
case("roialign16_output_half_pixel", "RoiAlign", [x, rois, bi], {}, dict(coordinate_transformation_mode="output_half_pixel", output_height=4, output_width=4), opset=16)

# random geometry sweeps (own generator so the cases above keep their data)
sw = np.random.default_rng(7)


def rnd(lo, hi):
    return int(sw.integers(lo, hi + 1))


for i in range(24):
    nd = [1, 2, 2, 2, 3][i % 5]
    g = [1, 1, 2, 3][rnd(0, 3)]
    cin, cout = g * rnd(1, 3), g * rnd(1, 3)
    k = [rnd(1, 4) for _ in range(nd)]
    s_ = [rnd(1, 3) for _ in range(nd)]
    d = [rnd(1, 2) for _ in range(nd)]
    pads = [rnd(0, k[j] - 1) for j in range(nd)] + [rnd(0, k[j] - 1) for j in range(nd)]
    size = [rnd((k[j] - 1) * d[j] + 1, 11) for j in range(nd)]
    xs = sw.standard_normal([rnd(1, 2), cin] + size).astype(np.float32)
    w = sw.standard_normal([cout, cin // g] + k).astype(np.float32)
    b = sw.standard_normal([cout]).astype(np.float32)
    case(f"sweep_conv_{i:02d}", "Conv", [xs], {1: w, 2: b}, dict(group=g, kernel_shape=k, strides=s_, dilations=d, pads=pads), opset=11)
    wt = sw.standard_normal([cin, cout // g] + k).astype(np.float32)
    op = [rnd(0, s_[j] - 1) for j in range(nd)]  # ORT wants output_padding < stride
    case(f"sweep_convtranspose_{i:02d}", "ConvTranspose", [xs], {1: wt, 2: b}, dict(group=g, kernel_shape=k, strides=s_, dilations=d, pads=pads, output_padding=op), opset=11)
    kp = [rnd(1, 3) for _ in range(nd)]
    pp = [rnd(0, kp[j] - 1) for j in range(nd)] * 2
    kind = ["MaxPool", "AveragePool", "AveragePool"][i % 3]
    attrs = dict(kernel_shape=kp, strides=[rnd(1, 2) for _ in range(nd)], pads=pp, ceil_mode=i % 2)
    if kind == "AveragePool":
        attrs["count_include_pad"] = (i // 3) % 2
    case(f"sweep_{kind.lower()}_{i:02d}", kind, [xs], {}, attrs, opset=12 if kind == "MaxPool" else 11)


def main():
    work = os.path.join(HERE, "_work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    failed = []
    for name, m, feeds, outs in cases:
        d = os.path.join(HERE, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "test_data_set_0"))
        onnx.save(m, os.path.join(d, "model.onnx"))
        inputs = {}
        for k, (nm, a) in enumerate(feeds):
            t = numpy_helper.from_array(a, nm)
            with open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb") as f:
                f.write(t.SerializeToString())
            p = os.path.join(work, f"{name}_{nm}.npy")
            np.save(p, a)
            inputs[nm] = p
        job = {"model": os.path.join(d, "model.onnx"), "threads": 1, "opt_level": "disabled",
               "result": os.path.join(work, f"{name}.json"),
               "samples": [{"inputs": inputs, "out_dir": os.path.join(work, name)}]}
        jp = os.path.join(work, f"{name}_job.json")
        with open(jp, "w") as f:
            json.dump(job, f)
        r = subprocess.run(["node", os.path.join(ROOT, "tools", "ort", "run.mjs"), jp], capture_output=True, text=True)
        if r.returncode != 0:
            failed.append(name)
            print(f"{name}: ORT failed: {r.stderr.strip()[:300]}", file=sys.stderr)
            shutil.rmtree(d)
            continue
        for k, o in enumerate(outs):
            a = np.load(os.path.join(work, name, f"{k}.npy"))
            t = numpy_helper.from_array(a, o)
            with open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb") as f:
                f.write(t.SerializeToString())
    shutil.rmtree(work)
    print(f"{len(cases) - len(failed)} cases written, {len(failed)} failed in ORT: {failed}")


main()
