package compare

import (
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// model builds a graph from "Op(in,...)->out,..." specs; x is a float
// input of shape [n, 4], inits are initializers.
func model(t *testing.T, nodes []string, out string, n int, inits ...*onnx.TensorProto) *graph.Model {
	t.Helper()
	ft := func(name string, dims ...int64) *onnx.ValueInfoProto {
		var shape []*onnx.TensorShapeProto_Dimension
		for _, d := range dims {
			shape = append(shape, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: proto.Int32(1), Shape: &onnx.TensorShapeProto{Dim: shape}}}}}
	}
	g := &onnx.GraphProto{Name: proto.String("main"), Input: []*onnx.ValueInfoProto{ft("x", int64(n), 4)}, Output: []*onnx.ValueInfoProto{ft(out, int64(n), 4)}, Initializer: inits}
	for _, s := range nodes {
		var op, ins, outs string
		if _, err := fmt.Sscanf(strings.NewReplacer("(", " ", ")->", " ").Replace(s), "%s %s %s", &op, &ins, &outs); err != nil {
			t.Fatalf("spec %q: %v", s, err)
		}
		g.Node = append(g.Node, &onnx.NodeProto{Name: proto.String(op + "_" + outs), OpType: proto.String(op), Input: strings.Split(ins, ","), Output: strings.Split(outs, ",")})
	}
	m, err := graph.FromProto(&onnx.ModelProto{IrVersion: proto.Int64(8), OpsetImport: []*onnx.OperatorSetIdProto{{Version: proto.Int64(17)}}, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func floats(name string, dims []int64, v ...float32) *onnx.TensorProto {
	return &onnx.TensorProto{Name: proto.String(name), DataType: proto.Int32(1), Dims: dims, FloatData: v}
}

func uint8s(name string, dims []int64, v ...int32) *onnx.TensorProto {
	return &onnx.TensorProto{Name: proto.String(name), DataType: proto.Int32(2), Dims: dims, Int32Data: v}
}

func int8s(name string, dims []int64, v ...int32) *onnx.TensorProto {
	return &onnx.TensorProto{Name: proto.String(name), DataType: proto.Int32(3), Dims: dims, Int32Data: v}
}

func TestMatch(t *testing.T) {
	s, zp := floats("s", nil, 0.1), uint8s("zp", nil, 0)
	w := floats("w", []int64{4}, 1, 2, 3, 4)
	tests := []struct {
		name        string
		float, quan []string
		inits       []*onnx.TensorProto
		want        []string // "name kind ref quant dequant relu"
	}{
		{
			name:  "activation by name",
			float: []string{"Relu(x)->y"},
			quan:  []string{"QuantizeLinear(x,s,zp)->xq", "DequantizeLinear(xq,s,zp)->xd", "Relu(xd)->y"},
			inits: []*onnx.TensorProto{s, zp},
			want:  []string{"x activation x x xd false"},
		},
		{
			name:  "folded relu: the reference is the relu output",
			float: []string{"Mul(x,x)->a", "Relu(a)->y"},
			quan:  []string{"Mul(x,x)->a", "QuantizeLinear(a,s,zp)->aq", "DequantizeLinear(aq,s,zp)->y"},
			inits: []*onnx.TensorProto{s, zp},
			want:  []string{"a activation y a y true"},
		},
		{
			name:  "folded Clip (Relu6)",
			float: []string{"Mul(x,x)->a", "Clip(a,lo,hi)->y"},
			quan:  []string{"Mul(x,x)->a", "QuantizeLinear(a,s,zp)->aq", "DequantizeLinear(aq,s,zp)->y"},
			inits: []*onnx.TensorProto{s, zp},
			want:  []string{"a activation y a y true"},
		},
		{
			name:  "Clip kept in the quantized model is not folded",
			float: []string{"Mul(x,x)->a", "Clip(a,lo,hi)->y"},
			quan:  []string{"Mul(x,x)->a", "QuantizeLinear(a,s,zp)->aq", "DequantizeLinear(aq,s,zp)->ad", "Clip(ad,lo,hi)->y"},
			inits: []*onnx.TensorProto{s, zp, floats("lo", nil, 0), floats("hi", nil, 6)},
			want:  []string{"a activation a a ad false"},
		},
		{
			name:  "other tool's names: no float counterpart",
			float: []string{"Relu(x)->y"},
			quan:  []string{"Relu(x)->r", "QuantizeLinear(r,s,zp)->rq", "DequantizeLinear(rq,s,zp)->rd", "Identity(rd)->y"},
			inits: []*onnx.TensorProto{s, zp},
			want:  []string{"r activation  r rd false"},
		},
		{
			name:  "renamed graph output: the float output has the DequantizeLinear's name",
			float: []string{"Relu(x)->y"},
			quan:  []string{"Relu(x)->y_float", "QuantizeLinear(y_float,s,zp)->yq", "DequantizeLinear(yq,s,zp)->y"},
			inits: []*onnx.TensorProto{s, zp},
			want:  []string{"y_float activation y y_float y false"},
		},
		{
			name:  "stored int weight W_quantized vs float W",
			float: []string{"Mul(x,w)->y"},
			quan:  []string{"DequantizeLinear(w_quantized,s,zp8)->wd", "Mul(x,wd)->y"},
			inits: []*onnx.TensorProto{s, int8s("zp8", nil, 0), int8s("w_quantized", []int64{4}, 10, 20, 30, 40), w},
			want:  []string{"w weight w  wd false"},
		},
		{
			name:  "float weight quantized in the graph (PyTorch export)",
			float: []string{"Mul(x,w)->y"},
			quan:  []string{"QuantizeLinear(w,s,zp8)->wq", "DequantizeLinear(wq,s,zp8)->wd", "Mul(x,wd)->y"},
			inits: []*onnx.TensorProto{s, int8s("zp8", nil, 0), w},
			want:  []string{"w weight w w wd false"},
		},
		{
			name:  "QuantizeLinear without DequantizeLinear (QOperator) is not a pair",
			float: []string{"Relu(x)->y"},
			quan:  []string{"QuantizeLinear(x,s,zp)->y"},
			inits: []*onnx.TensorProto{s, zp},
			want:  nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fm := model(t, tc.float, "y", 1, w, floats("lo", nil, 0), floats("hi", nil, 6))
			qm := model(t, tc.quan, "y", 1, tc.inits...)
			var got []string
			for _, p := range Match(fm.Graph, qm.Graph) {
				got = append(got, fmt.Sprintf("%s %s %s %s %s %v", p.Name, p.Kind, p.Ref, p.Quant, p.Dequant, p.Clamped))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

type sliceReader struct{ batches []map[string]*tensor.Tensor }

func (r *sliceReader) Next() (map[string]*tensor.Tensor, error) {
	if len(r.batches) == 0 {
		return nil, io.EOF
	}
	b := r.batches[0]
	r.batches = r.batches[1:]
	return b, nil
}
func (r *sliceReader) Len() int     { return -1 }
func (r *sliceReader) Close() error { return nil }

// TestTensors checks the streamed per-tensor SQNR against the figure
// computed directly from the quantization formula.
func TestTensors(t *testing.T) {
	const scale = 0.25
	w := floats("w", []int64{4}, 0.3, -0.7, 1.1, 2)
	fm := model(t, []string{"Mul(x,w)->y"}, "y", 1, w)
	qm := model(t, []string{"QuantizeLinear(x,s,zp)->xq", "DequantizeLinear(xq,s,zp)->xd",
		"DequantizeLinear(w_quantized,s,zp8)->wd", "Mul(xd,wd)->y"}, "y", 1,
		floats("s", nil, scale), uint8s("zp", nil, 0), int8s("zp8", nil, 0), int8s("w_quantized", []int64{4}, 1, -3, 4, 8))
	samples := [][]float32{{0.1, 0.2, 0.9, 3.3}, {1.3, 0.05, 2.6, 0.4}, {0, 0.6, 0.13, 1.9}}
	var batches []map[string]*tensor.Tensor
	var sig, noise float64
	for _, s := range samples {
		batches = append(batches, map[string]*tensor.Tensor{"x": tensor.FromFloat32(append([]float32(nil), s...), 1, 4)})
		for _, v := range s {
			d := math.RoundToEven(float64(v)/scale) * scale
			sig += float64(v) * float64(v)
			noise += (float64(v) - d) * (float64(v) - d)
		}
	}
	var wsig, wnoise float64
	for i, q := range []float64{1, -3, 4, 8} {
		v := float64(w.FloatData[i])
		wsig += v * v
		wnoise += (v - q*scale) * (v - q*scale)
	}
	fe, err := kernels.NewEngine(fm, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	qe, err := kernels.NewEngine(qm, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Tensors(fm, qm, fe, qe, &sliceReader{batches}, []int64{3, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if d.Samples != 3 || len(d.Outputs) != 1 {
		t.Fatalf("samples %d, outputs %d", d.Samples, len(d.Outputs))
	}
	got := map[string]TensorReport{}
	for _, tr := range d.Tensors {
		got[tr.Name] = tr
	}
	for _, c := range []struct {
		name        string
		sqnr, local float64
	}{
		{"x", 10 * math.Log10(sig/noise), 10 * math.Log10(sig/noise)},
		{"w", 10 * math.Log10(wsig/wnoise), math.NaN()},
	} {
		tr, ok := got[c.name]
		if !ok {
			t.Fatalf("no report for %q in %+v", c.name, d.Tensors)
		}
		if math.Abs(tr.SQNR-c.sqnr) > 1e-3 {
			t.Errorf("%s: SQNR %.4f dB, want %.4f", c.name, tr.SQNR, c.sqnr)
		}
		if math.IsNaN(c.local) != math.IsNaN(tr.LocalSQNR) || (!math.IsNaN(c.local) && math.Abs(tr.LocalSQNR-c.local) > 1e-3) {
			t.Errorf("%s: local SQNR %.4f dB, want %.4f", c.name, tr.LocalSQNR, c.local)
		}
	}
	if d.Tensors[0].SQNR > d.Tensors[1].SQNR {
		t.Errorf("not worst first: %+v", d.Tensors)
	}
	if math.IsNaN(d.RefAccuracy) || math.IsNaN(d.TestAccuracy) {
		t.Errorf("labels given but accuracy is NaN")
	}
}
