package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// maskedAttentionModel writes a one-head attention block with an additive
// padding mask, as PyTorch exports them: y = Softmax(x·Wq·(x·Wk)ᵀ + ext)·x·Wv
// with ext = Where(mask == 0, neg, 0) (masked_fill), x float32[1,6,8] and
// mask float32[1,6] (0 for padding). neg is -Inf (nn.MultiheadAttention's masked_fill), -10000 (old
// BERT) or the float32 minimum (Hugging Face today). It also writes 8
// samples whose last two positions are padding in every other sample.
func maskedAttentionModel(t *testing.T, dir string, neg float32) (model, data string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	randn := func(n int, s float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * s)
		}
		return out
	}
	init := func(name string, data []float32, dims ...int64) *onnx.TensorProto {
		return &onnx.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(tensor.Float)), Dims: dims, FloatData: data}
	}
	vi := func(name string, dims ...int64) *onnx.ValueInfoProto {
		var d []*onnx.TensorShapeProto_Dimension
		for _, x := range dims {
			d = append(d, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: x}})
		}
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: proto.Int32(int32(tensor.Float)), Shape: &onnx.TensorShapeProto{Dim: d}}}}}
	}
	node := func(op string, in []string, out string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
		return &onnx.NodeProto{Name: proto.String(out), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: attrs}
	}
	ints := func(name string, v ...int64) *onnx.AttributeProto {
		return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INTS.Enum(), Ints: v}
	}
	mp := &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnx.GraphProto{
			Name: proto.String("masked_attention"),
			Node: []*onnx.NodeProto{
				node("MatMul", []string{"x", "wq"}, "q"),
				node("MatMul", []string{"x", "wk"}, "k"),
				node("MatMul", []string{"x", "wv"}, "v"),
				node("Transpose", []string{"k"}, "kt", ints("perm", 0, 2, 1)),
				node("MatMul", []string{"q", "kt"}, "scores"),
				node("Equal", []string{"mask", "zero"}, "pad"),
				node("Where", []string{"pad", "neg", "zero"}, "ext2d"),
				node("Unsqueeze", []string{"ext2d", "axis1"}, "ext"),
				node("Add", []string{"scores", "ext"}, "masked"),
				node("Softmax", []string{"masked"}, "probs", &onnx.AttributeProto{Name: proto.String("axis"), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(-1)}),
				node("MatMul", []string{"probs", "v"}, "ctx"),
				node("MatMul", []string{"ctx", "wo"}, "y"),
			},
			Initializer: []*onnx.TensorProto{
				init("wq", randn(64, 0.35), 8, 8), init("wk", randn(64, 0.35), 8, 8),
				init("wv", randn(64, 0.35), 8, 8), init("wo", randn(64, 0.35), 8, 8),
				init("zero", []float32{0}), init("neg", []float32{neg}),
				{Name: proto.String("axis1"), DataType: proto.Int32(int32(tensor.Int64)), Dims: []int64{1}, Int64Data: []int64{1}},
			},
			Input:  []*onnx.ValueInfoProto{vi("x", 1, 6, 8), vi("mask", 1, 6)},
			Output: []*onnx.ValueInfoProto{vi("y", 1, 6, 8)},
		},
	}
	model = filepath.Join(dir, "attention.onnx")
	if err := onnxio.Save(model, mp, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	for s := range 8 {
		mask := []float32{1, 1, 1, 1, 1, 1}
		if s%2 == 1 {
			mask[4], mask[5] = 0, 0
		}
		set := filepath.Join(data, fmt.Sprintf("test_data_set_%d", s))
		if err := os.MkdirAll(set, 0o755); err != nil {
			t.Fatal(err)
		}
		for k, tt := range []*tensor.Tensor{tensor.FromFloat32(randn(48, 1), 1, 6, 8), tensor.FromFloat32(mask, 1, 6)} {
			tp, err := onnxio.FromTensor([]string{"x", "mask"}[k], tt)
			if err != nil {
				t.Fatal(err)
			}
			b, err := proto.Marshal(tp)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(set, fmt.Sprintf("input_%d.pb", k)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return model, data
}

// TestQuantizeAttentionMask: an additive attention mask must neither stop
// calibration (-Inf) nor be squeezed into the Softmax input's 8 bits
// (-10000, float32 min), which rounds every real score to one level and
// makes attention uniform. The Softmax stays float, saying why, and the
// MatMul reading its output is still quantized.
func TestQuantizeAttentionMask(t *testing.T) {
	for _, tc := range []struct {
		name string
		neg  float32
		why  string
	}{
		{"inf", float32(math.Inf(-1)), "holds ±Inf"},
		{"1e4", -10000, "too wide for 8 bits"},
		{"finfo", -math.MaxFloat32, "too wide for 8 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			model, data := maskedAttentionModel(t, dir, tc.neg)
			out := filepath.Join(dir, "q.onnx")
			js := ptqRun(t, "quantize", model, "--data", data, "-o", out, "--json", "-q", "--eval-samples", "0")
			var sum struct {
				Nodes []string `json:"quantized_nodes"`
				Float []struct {
					Node, Reason string
				} `json:"left_float"`
				Eval struct {
					Outputs []struct {
						SQNR float64 `json:"sqnr_db"`
					} `json:"outputs"`
				} `json:"eval"`
			}
			if err := json.Unmarshal([]byte(js[:strings.LastIndex(js, "}")+1]), &sum); err != nil {
				t.Fatalf("%v\n%s", err, js)
			}
			softmaxWhy := ""
			for _, f := range sum.Float {
				if f.Node == "probs" {
					softmaxWhy = f.Reason
				}
			}
			if !strings.Contains(softmaxWhy, tc.why) {
				t.Errorf("Softmax left float for %q, want a reason mentioning %q", softmaxWhy, tc.why)
			}
			quantized := strings.Join(sum.Nodes, " ")
			for _, n := range []string{"ctx", "y", "scores"} {
				if !strings.Contains(" "+quantized+" ", " "+n+" ") {
					t.Errorf("node %s not quantized (quantized: %s)", n, quantized)
				}
			}
			if len(sum.Eval.Outputs) != 1 || !(sum.Eval.Outputs[0].SQNR > 30) {
				t.Errorf("output SQNR %+v, want > 30 dB", sum.Eval.Outputs)
			}
		})
	}
}

// TestQuantizeRefusesQuantized: a quantized model given to quantize again is
// refused, naming a quantization node, instead of getting a second layer of
// Q/DQ pairs on its old ones.
func TestQuantizeRefusesQuantized(t *testing.T) {
	dir := t.TempDir()
	model, data := maskedAttentionModel(t, dir, -10000)
	q := filepath.Join(dir, "q.onnx")
	ptqRun(t, "quantize", model, "--data", data, "-o", q, "-q", "--no-eval")
	for _, mode := range []string{"static", "weight-only"} {
		var so, se strings.Builder
		q2 := filepath.Join(dir, "q2.onnx")
		code := run([]string{"ptq", "quantize", q, "--data", data, "-o", q2, "-q", "--mode", mode}, &so, &se)
		if code != 1 || !strings.Contains(se.String(), "already quantized") || !strings.Contains(se.String(), "QuantizeLinear") {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 saying the model is already quantized", mode, code, se.String())
		}
		if _, err := os.Stat(q2); err == nil {
			t.Errorf("%s: wrote %s", mode, q2)
		}
	}
}
