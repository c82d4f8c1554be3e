"""Builds small test models for the elementwise, shape and reduction
kernels whose expected outputs come from ONNX Runtime: operator versions
newer than the ONNX 1.12 conformance data (opsets 18-20), integer and
mixed-type paths, and edge cases (ties, NaN, saturation).

Run from the repository root with Debian's python (python3-onnx):
    /usr/bin/python3 kernels/testdata/elem_ort/make.py
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
from onnx import TensorProto as TP, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
rng = np.random.default_rng(20261126)
cases = []


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def ints(lo, hi, shape, dt=np.int32):
    return rng.integers(lo, hi, shape).astype(dt)


NP2TP = {np.dtype(k): v for k, v in [(np.float32, TP.FLOAT), (np.float64, TP.DOUBLE), (np.int64, TP.INT64), (np.int32, TP.INT32),
                                       (np.int16, TP.INT16), (np.int8, TP.INT8), (np.uint8, TP.UINT8), (np.uint16, TP.UINT16),
                                       (np.uint32, TP.UINT32), (np.uint64, TP.UINT64), (np.bool_, TP.BOOL), (np.float16, TP.FLOAT16)]}


def graph_case(name, nodes, feeds, consts, outs, opset):
    """nodes: NodeProtos; feeds: [(name, array)]; consts: {name: array}; outs: [(name, TensorProto type)]."""
    gi = [helper.make_tensor_value_info(n, NP2TP[a.dtype], a.shape) for n, a in feeds]
    inits = [numpy_helper.from_array(a, n) for n, a in consts.items()]
    go = [helper.make_tensor_value_info(n, t, None) for n, t in outs]
    g = helper.make_graph(nodes, name, gi, go, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    cases.append((name, m, feeds, [n for n, _ in outs]))


def case(name, op, inputs, consts=None, attrs=None, opset=18, out_types=None):
    """inputs: arrays fed at run time (x0, x1, ...); consts: {position: array or None}."""
    consts = consts or {}
    total = len(inputs) + len(consts)
    names, feeds, cs = [], [], {}
    it = iter(inputs)
    for k in range(total):
        if k in consts:
            if consts[k] is None:
                names.append("")
                continue
            cs[f"c{k}"] = consts[k]
            names.append(f"c{k}")
        else:
            a = next(it)
            names.append(f"x{k}")
            feeds.append((f"x{k}", a))
    out_types = out_types or [NP2TP[inputs[0].dtype]]
    outs = [(f"y{k}", t) for k, t in enumerate(out_types)]
    node = helper.make_node(op, names, [n for n, _ in outs], **(attrs or {}))
    graph_case(name, [node], feeds, cs, outs, opset)


I64 = lambda *v: np.array(v, np.int64)
x = f32(2, 3, 4) * 3

# activations new after opset 17
case("gelu_none", "Gelu", [x], opset=20)
case("gelu_tanh", "Gelu", [x], attrs=dict(approximate="tanh"), opset=20)
case("mish", "Mish", [x], opset=18)
case("hardswish", "HardSwish", [x * 2], opset=14)
case("hardsigmoid_attrs", "HardSigmoid", [x], attrs=dict(alpha=0.3, beta=0.4), opset=6)
case("celu_alpha", "Celu", [x], attrs=dict(alpha=2.0), opset=12)
case("softplus_large", "Softplus", [np.array([-100, -20, 0, 20, 100], np.float32)], opset=1)
case("sigmoid_extremes", "Sigmoid", [np.array([-100, -20, 0, 20, 100], np.float32)], opset=13)
case("round_half_even", "Round", [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.6], np.float32)], opset=11)
case("isinf_positive_only", "IsInf", [np.array([-np.inf, np.inf, 1, np.nan], np.float32)], attrs=dict(detect_negative=0), opset=10, out_types=[TP.BOOL])
case("relu_int8", "Relu", [ints(-100, 100, (10,), np.int8)], opset=14)
case("abs_int16", "Abs", [ints(-100, 100, (10,), np.int16)], opset=13)
case("sign_int32", "Sign", [ints(-5, 5, (10,), np.int32)], opset=13)
case("neg_int64", "Neg", [ints(-5, 5, (10,), np.int64)], opset=13)
case("erf_f32", "Erf", [x], opset=13)
case("exp_f16", "Exp", [x.astype(np.float16) / 3], opset=13)

# bitwise (18) and shifts
a, b = ints(-1000, 1000, (3, 4)), ints(-1000, 1000, (4,))
for op in ["BitwiseAnd", "BitwiseOr", "BitwiseXor"]:
    case(op.lower() + "_int32_bcast", op, [a, b], opset=18)
case("bitwisenot_uint8", "BitwiseNot", [ints(0, 255, (6,), np.uint8)], opset=18)
case("bitshift_right_uint32", "BitShift", [ints(0, 1 << 30, (5,), np.uint32), ints(0, 31, (5,), np.uint32)], attrs=dict(direction="RIGHT"), opset=11)

# integer arithmetic
a = np.array([7, -7, 7, -7, 0, 5, -5, 9], np.int32)
b = np.array([2, 2, -2, -2, 3, -3, 3, 4], np.int32)
case("div_int32_trunc", "Div", [a, b], opset=14)
case("mod_int32", "Mod", [a, b], opset=13)
case("mod_int32_fmod", "Mod", [a, b], attrs=dict(fmod=1), opset=13)
case("mod_float_fmod", "Mod", [x, np.float32(1.5) * np.ones((4,), np.float32)], attrs=dict(fmod=1), opset=13)
case("pow_int64_float", "Pow", [ints(-4, 5, (6,), np.int64), np.array([2, 3, 0.5, 1, 2, 0], np.float32)], opset=15)
case("pow_float_int32", "Pow", [np.abs(x), ints(0, 4, (4,), np.int32)], opset=15)
case("max_int_bcast", "Max", [ints(-9, 9, (2, 3)), ints(-9, 9, (3,)), ints(-9, 9, (2, 1))], opset=13)
case("min_f64_three", "Min", [x.astype(np.float64), f32(4).astype(np.float64), f32(3, 1).astype(np.float64)], opset=13)
case("mean_bcast", "Mean", [x, f32(4), f32(3, 1)], opset=13)
case("add_f16_bcast", "Add", [x.astype(np.float16), f32(4).astype(np.float16)], opset=14)
case("sub_int64_scalar", "Sub", [ints(-9, 9, (2, 3), np.int64), np.array(4, np.int64)], opset=14)
case("mul_uint16", "Mul", [ints(0, 200, (4,), np.uint16), ints(0, 200, (4,), np.uint16)], opset=14)
case("prelu_channel", "PRelu", [f32(2, 3, 4, 5)], {1: f32(3, 1, 1)}, opset=16)
case("prelu_int32", "PRelu", [ints(-9, 9, (2, 3))], {1: ints(-3, 3, (3,))}, opset=16)

# comparisons and logic
case("equal_string", "Equal", [], {0: np.array(["a", "b", "c"], object), 1: np.array(["a", "x", "c"], object)}, opset=19, out_types=[TP.BOOL])
case("greater_int8_bcast", "Greater", [ints(-9, 9, (2, 3), np.int8), ints(-9, 9, (3,), np.int8)], opset=13, out_types=[TP.BOOL])
case("lessorequal_f64", "LessOrEqual", [x.astype(np.float64), np.zeros((1, 1, 4), np.float64)], opset=16, out_types=[TP.BOOL])
c = rng.random((3, 1)) > 0.5
case("where_int64_3way", "Where", [c, ints(0, 9, (1, 4), np.int64), ints(-9, 0, (2, 1, 1), np.int64)], opset=16, out_types=[TP.INT64])
case("where_f32_same", "Where", [rng.random((3, 4)) > 0.5, f32(3, 4), f32(3, 4)], opset=16, out_types=[TP.FLOAT])

# Clip on integers and with one bound
case("clip_int32", "Clip", [ints(-20, 20, (10,))], {1: np.array(-5, np.int32), 2: np.array(7, np.int32)}, opset=13)
case("clip_int8_max_only", "Clip", [ints(-100, 100, (10,), np.int8)], {1: None, 2: np.array(9, np.int8)}, opset=13)
case("clip_float_min_only", "Clip", [x], {1: np.array(-0.5, np.float32)}, opset=13)
case("clip6_attrs", "Clip", [x], attrs={"min": -1.0, "max": 0.5}, opset=6)

# casts
v = np.array([0, 0.3, -2.5, 1e-3, 3e-3, 240, 250, 448, 460, 500, 57344, 70000, 1e9, -1e9, np.inf, -np.inf, np.nan, 1.7e-2], np.float32)
for to, nm in [(17, "e4m3fn"), (18, "e4m3fnuz"), (19, "e5m2"), (20, "e5m2fnuz")]:
    for sat in [1, 0]:
        graph_case(f"cast_f8_{nm}_sat{sat}",
                   [helper.make_node("Cast", ["x0"], ["q"], to=to, saturate=sat), helper.make_node("Cast", ["q"], ["y0"], to=TP.FLOAT)],
                   [("x0", v)], {}, [("y0", TP.FLOAT)], 19)
w = np.array([-2.7, -0.5, 0, 0.5, 2.7, 100.9, -100.9], np.float32)
case("cast_float_int32", "Cast", [w], attrs=dict(to=TP.INT32), opset=13, out_types=[TP.INT32])
case("cast_float_int8", "Cast", [w], attrs=dict(to=TP.INT8), opset=13, out_types=[TP.INT8])
case("cast_float_bool", "Cast", [w], attrs=dict(to=TP.BOOL), opset=13, out_types=[TP.BOOL])
case("cast_bool_float", "Cast", [rng.random(5) > 0.5], attrs=dict(to=TP.FLOAT), opset=13, out_types=[TP.FLOAT])
case("cast_int64_f16", "Cast", [ints(-3000, 3000, (6,), np.int64)], attrs=dict(to=TP.FLOAT16), opset=13, out_types=[TP.FLOAT16])
case("cast_f64_uint8", "Cast", [np.array([0, 1.9, 200.5, 255], np.float64)], attrs=dict(to=TP.UINT8), opset=13, out_types=[TP.UINT8])
case("castlike_int32_f64", "CastLike", [ints(-9, 9, (4,)), np.zeros(1, np.float64)], opset=15, out_types=[TP.DOUBLE])

# reductions with axes as an input (18) and the older forms
y = f32(2, 3, 4, 5)
for op in ["ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"]:
    case(op.lower() + "18_axes13", op, [y], {1: I64(1, 3)}, attrs=dict(keepdims=0), opset=18)
case("reducelogsum18_axis2", "ReduceLogSum", [np.abs(y) + 0.1], {1: I64(-2)}, opset=18)
case("reducemax18_noop", "ReduceMax", [y], {1: np.zeros(0, np.int64)}, attrs=dict(noop_with_empty_axes=1), opset=18)
case("reducemean18_all", "ReduceMean", [y], attrs=dict(keepdims=0), opset=18)
case("reducemin13_int8", "ReduceMin", [ints(-99, 99, (3, 4), np.int8)], attrs=dict(axes=[0]), opset=13)
case("reducesum13_int64_axes", "ReduceSum", [ints(-99, 99, (3, 4, 2), np.int64)], {1: I64(0, 2)}, opset=13)
case("reducesum11_attr", "ReduceSum", [y], attrs=dict(axes=[0, 2], keepdims=1), opset=11)
case("argmin_ties_last", "ArgMin", [ints(0, 3, (4, 5))], attrs=dict(axis=1, select_last_index=1), opset=13, out_types=[TP.INT64])
case("cumsum_int32_rev_excl", "CumSum", [ints(-9, 9, (3, 4))], {1: np.array(1, np.int32)}, attrs=dict(reverse=1, exclusive=1), opset=14)
case("topk_smallest_ties", "TopK", [ints(0, 4, (3, 6)).astype(np.float32)], {1: I64(4)}, attrs=dict(largest=0), opset=11, out_types=[TP.FLOAT, TP.INT64])
case("topk_int64_axis0", "TopK", [ints(0, 5, (6, 3), np.int64)], {1: I64(2)}, attrs=dict(axis=0), opset=11, out_types=[TP.INT64, TP.INT64])

# shape and indexing
case("split18_num_outputs", "Split", [f32(7, 2)], attrs=dict(num_outputs=3), opset=18, out_types=[TP.FLOAT] * 3)
case("split13_input", "Split", [f32(2, 6)], {1: I64(1, 3, 2)}, attrs=dict(axis=-1), opset=13, out_types=[TP.FLOAT] * 3)
case("split11_equal", "Split", [f32(2, 6)], attrs=dict(axis=1), opset=11, out_types=[TP.FLOAT] * 2)
z = f32(2, 3, 4)
for mode in ["constant", "reflect", "edge", "wrap"]:
    # ORT needs two elements left on an axis it reflects
    pads = I64(2, 0, 1, 1) if mode == "reflect" else I64(2, -1, 1, 3)
    case(f"pad19_{mode}_axes", "Pad", [z], {1: pads, 2: np.array(1.5, np.float32), 3: I64(2, 0)}, attrs=dict(mode=mode), opset=19)
case("pad11_reflect_neg", "Pad", [z], {1: I64(0, 1, -1, 1, 0, 2)}, attrs=dict(mode="reflect"), opset=11)
case("pad2_attrs", "Pad", [z], attrs=dict(pads=[0, 0, 1, 1, 0, 2], value=-1.0, mode="constant"), opset=2)
case("pad13_int64", "Pad", [ints(0, 9, (2, 3), np.int64)], {1: I64(1, 0, 0, 2), 2: np.array(-7, np.int64)}, opset=13)
case("slice13_multi_neg", "Slice", [f32(5, 6, 7)], {1: I64(-1, 5, 1), 2: I64(-100, 0, 100), 3: I64(0, 1, 2), 4: I64(-2, -2, 3)}, opset=13)
case("slice1_attrs", "Slice", [f32(4, 5)], attrs=dict(starts=[1, -3], ends=[100, -1], axes=[0, 1]), opset=1)
case("gather_int32_neg", "Gather", [f32(5, 4)], {1: np.array([[-1, 0], [2, -5]], np.int32)}, attrs=dict(axis=0), opset=13)
case("gather_axis2_scalar", "Gather", [f32(2, 3, 4)], {1: np.array(-2, np.int64)}, attrs=dict(axis=2), opset=13)
case("gathernd_batch2", "GatherND", [f32(2, 3, 4, 5)], {1: ints(0, 4, (2, 3, 2, 1), np.int64)}, attrs=dict(batch_dims=2), opset=13)
case("gatherelements_axis1", "GatherElements", [f32(3, 4)], {1: ints(-4, 4, (3, 2), np.int64)}, attrs=dict(axis=1), opset=13)
for red in ["max", "min"]:
    case(f"scatterelements_{red}", "ScatterElements", [f32(3, 4)], {1: np.array([[1, 1], [0, 3], [2, 2]], np.int64), 2: f32(3, 2)}, attrs=dict(axis=1, reduction=red), opset=18)
for red in ["add", "mul", "max", "min"]:
    case(f"scatternd_{red}", "ScatterND", [f32(4, 3)], {1: np.array([[1], [3], [1]], np.int64), 2: f32(3, 3)}, attrs=dict(reduction=red), opset=18)
case("scatter9_axis1", "Scatter", [f32(3, 4)], {1: np.array([[1, 0], [3, 2], [0, 1]], np.int64), 2: f32(3, 2)}, attrs=dict(axis=1), opset=9)
case("expand_smaller_shape", "Expand", [f32(3, 1)], {1: I64(2, 1, 4)}, opset=13)
case("expand_int64_shape_ones", "Expand", [ints(0, 9, (2, 1, 3), np.int64)], {1: I64(1, 1)}, opset=13)
case("tile_int32", "Tile", [ints(0, 9, (2, 3))], {1: I64(2, 3)}, opset=13)
case("transpose_int64", "Transpose", [ints(0, 99, (2, 3, 4), np.int64)], attrs=dict(perm=[2, 0, 1]), opset=13)
case("transpose_f32_heads", "Transpose", [f32(2, 5, 3, 4)], attrs=dict(perm=[0, 2, 1, 3]), opset=13)
case("concat_empty", "Concat", [f32(2, 0), f32(2, 3), f32(2, 1)], attrs=dict(axis=1), opset=13)
case("reshape_allowzero_neg", "Reshape", [f32(2, 3, 4)], {1: I64(0, -1, 2)}, opset=14)
case("flatten_axis0", "Flatten", [f32(2, 3, 4)], attrs=dict(axis=0), opset=13)
case("unsqueeze13_neg", "Unsqueeze", [f32(2, 3)], {1: I64(-1, 0)}, opset=13)
case("squeeze11_attr", "Squeeze", [f32(1, 3, 1)], attrs=dict(axes=[0]), opset=11)
case("range_f32_neg", "Range", [np.array(5, np.float32), np.array(-2.2, np.float32), np.array(-0.7, np.float32)], opset=11)
case("range_int64", "Range", [np.array(-3, np.int64), np.array(10, np.int64), np.array(4, np.int64)], opset=11)
case("onehot_axis0_float_depth", "OneHot", [ints(-3, 3, (2, 3), np.int64)], {1: np.array(4.0, np.float32), 2: np.array([0, 5], np.int32)}, attrs=dict(axis=0), opset=11, out_types=[TP.INT32])
case("det_batch", "Det", [f32(2, 3, 3)], opset=11)
case("nonzero_int32", "NonZero", [ints(-1, 2, (3, 4))], opset=13, out_types=[TP.INT64])
case("compress_axis1", "Compress", [f32(3, 4)], {1: np.array([True, False, True], np.bool_)}, attrs=dict(axis=1), opset=11)
case("trilu_lower_k", "Trilu", [f32(2, 4, 5)], {1: np.array(-1, np.int64)}, attrs=dict(upper=0), opset=14)
case("eyelike_k_int", "EyeLike", [f32(3, 5)], attrs=dict(k=2, dtype=TP.INT32), opset=9, out_types=[TP.INT32])
case("constantofshape_int64", "ConstantOfShape", [I64(2, 3)], attrs=dict(value=numpy_helper.from_array(np.array([7], np.int64))), opset=9, out_types=[TP.INT64])
case("shape15_start_end", "Shape", [f32(2, 3, 4, 5)], attrs=dict(start=1, end=-1), opset=15, out_types=[TP.INT64])
case("dropout13_mask", "Dropout", [x], {1: np.array(0.3, np.float32)}, opset=13, out_types=[TP.FLOAT, TP.BOOL])
case("unique_axis1_unsorted", "Unique", [ints(0, 3, (2, 6)).astype(np.float32)], attrs=dict(axis=1, sorted=0), opset=11, out_types=[TP.FLOAT, TP.INT64, TP.INT64, TP.INT64])
case("reversesequence_batch0", "ReverseSequence", [f32(3, 4, 2)], {1: I64(4, 1, 3)}, attrs=dict(batch_axis=0, time_axis=1), opset=10)


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
