#!/usr/bin/python3
"""Small ONNX models with the structures real exported models have and a
quantizer must survive, written with onnx.helper (python3-onnx 1.12), each
with seeded calibration data NAME.calib.npy (float32, first axis = samples):

  if_weights.onnx        opset 13. x [1,8] -> If(ReduceSum(x) > 0): the then
                         branch is MatMul+Add+Relu with its weights as
                         initializers of the subgraph, the else branch the
                         same with weights in Constant nodes inside the
                         subgraph; y [1,4]. Calibration samples take both
                         branches (about half each).
  loop_weights.onnx      opset 13. x [N,8] -> Loop 3 times h = Relu(h W + b)
                         with W, b initializers of the loop body; y [N,8].
  shared_init.onnx       opset 13. One weight W [8,8] and bias b used by two
                         MatMul+Add pairs and a Gemm; the first Relu's output
                         "h1" is both a graph output and consumed inside.
  odd_names.onnx         opset 13. Conv-Relu-Conv-GlobalAveragePool-Flatten-Gemm
                         where every value, node and initializer name has
                         characters outside [A-Za-z0-9_] (spaces, '/', ':',
                         '.', non-ASCII); the Relu output "feat:0 (relu)/ä"
                         is a graph output and feeds the second Conv.
  constant_weights.onnx  opset 11. Conv and Gemm whose weights and biases are
                         Constant nodes rather than initializers.

    /usr/bin/python3 testmodels/edge/make_edge.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)


def w(*shape, scale=None):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    return (rng.standard_normal(shape) * (scale or (2.0 / fan_in) ** 0.5)).astype(np.float32)


def init(name, a):
    return numpy_helper.from_array(a, name)


def const(out, a, name=None):
    return helper.make_node("Constant", [], [out], name=name or out + "_const", value=numpy_helper.from_array(a, out))


def save(name, graph, opset, calib):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="ptq testmodels/edge")
    m.ir_version = 7
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, os.path.join(HERE, name + ".onnx"))
    np.save(os.path.join(HERE, name + ".calib.npy"), calib.astype(np.float32))


def if_weights():
    then_g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W_then"], ["mm_then"]),
         helper.make_node("Add", ["mm_then", "b_then"], ["add_then"]),
         helper.make_node("Relu", ["add_then"], ["y_then"])],
        "then", [], [helper.make_tensor_value_info("y_then", TensorProto.FLOAT, [1, 4])],
        [init("W_then", w(8, 4)), init("b_then", w(4, scale=0.1))])
    else_g = helper.make_graph(
        [const("W_else", w(8, 4)), const("b_else", w(4, scale=0.1)),
         helper.make_node("MatMul", ["x", "W_else"], ["mm_else"]),
         helper.make_node("Add", ["mm_else", "b_else"], ["add_else"]),
         helper.make_node("Relu", ["add_else"], ["y_else"])],
        "else", [], [helper.make_tensor_value_info("y_else", TensorProto.FLOAT, [1, 4])])
    g = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
         helper.make_node("Greater", ["s", "zero"], ["cond"]),
         helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
        "if_weights", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [init("zero", np.array(0, np.float32))])
    save("if_weights", g, 13, rng.standard_normal((64, 8)))


def loop_weights():
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("MatMul", ["h_in", "W_body"], ["mm"]),
         helper.make_node("Add", ["mm", "b_body"], ["pre"]),
         helper.make_node("Relu", ["pre"], ["h_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["N", 8])],
        [init("W_body", w(8, 8)), init("b_body", w(8, scale=0.1))])
    g = helper.make_graph(
        [helper.make_node("Loop", ["trips", "true", "x"], ["y"], body=body)],
        "loop_weights", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [init("trips", np.array(3, np.int64)), init("true", np.array(True))])
    save("loop_weights", g, 13, rng.standard_normal((64, 8)))


def shared_init():
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["m1"]),
         helper.make_node("Add", ["m1", "b"], ["a1"]),
         helper.make_node("Relu", ["a1"], ["h1"]),
         helper.make_node("MatMul", ["h1", "W"], ["m2"]),
         helper.make_node("Add", ["m2", "b"], ["a2"]),
         helper.make_node("Relu", ["a2"], ["h2"]),
         helper.make_node("Gemm", ["h2", "W", "b"], ["y"])],
        "shared_init", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8]),
         helper.make_tensor_value_info("h1", TensorProto.FLOAT, ["N", 8])],
        [init("W", w(8, 8)), init("b", w(8, scale=0.1))])
    save("shared_init", g, 13, rng.standard_normal((64, 8)))


def odd_names():
    x, f = "input:0 (NCHW)", "feat:0 (relu)/ä"
    g = helper.make_graph(
        [helper.make_node("Conv", [x, "conv/weight 1", "conv/bias.1"], ["conv:out/1"], name="conv:1/ä", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["conv:out/1"], [f], name="relu 1"),
         helper.make_node("Conv", [f, "conv/weight 2", "conv/bias.2"], ["conv:out/2"], name="conv:2/é", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["conv:out/2"], ["relu.out 2"], name="relu/2"),
         helper.make_node("GlobalAveragePool", ["relu.out 2"], ["gap out"], name="gap:0"),
         helper.make_node("Flatten", ["gap out"], ["flat/0"], name="flatten.0"),
         helper.make_node("Gemm", ["flat/0", "fc weight:0", "fc bias:0"], ["out put/1"], name="fc/Gemm 0", transB=1)],
        "odd names: graph/0", [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch size", 3, 8, 8])],
        [helper.make_tensor_value_info("out put/1", TensorProto.FLOAT, ["batch size", 5]),
         helper.make_tensor_value_info(f, TensorProto.FLOAT, ["batch size", 8, 8, 8])],
        [init("conv/weight 1", w(8, 3, 3, 3)), init("conv/bias.1", w(8, scale=0.1)),
         init("conv/weight 2", w(8, 8, 3, 3)), init("conv/bias.2", w(8, scale=0.1)),
         init("fc weight:0", w(5, 8)), init("fc bias:0", w(5, scale=0.1))])
    save("odd_names", g, 13, rng.standard_normal((32, 3, 8, 8)))


def constant_weights():
    g = helper.make_graph(
        [const("cw", w(4, 3, 3, 3)), const("cb", w(4, scale=0.1)),
         helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("Flatten", ["r"], ["f"]),
         const("gw", w(4 * 6 * 6, 10)), const("gb", w(10, scale=0.1)),
         helper.make_node("Gemm", ["f", "gw", "gb"], ["y"])],
        "constant_weights", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])])
    save("constant_weights", g, 11, rng.standard_normal((32, 3, 6, 6)))


if __name__ == "__main__":
    if_weights()
    loop_weights()
    shared_init()
    odd_names()
    constant_weights()
