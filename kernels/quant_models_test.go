package kernels

import (
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ptq-dev/ptq/dataset"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// TestQOperatorModelsMatchORT runs whole quantized models in the form ONNX
// Runtime executes them: each Fashion-MNIST QDQ model of testmodels is
// optimised by ONNX Runtime (level "extended", which fuses
// DequantizeLinear -> op -> QuantizeLinear groups into QLinearConv, QGemm,
// QLinearAdd, QLinearGlobalAveragePool and friends), saved, and the saved
// graph is run by the engine and by ONNX Runtime on real test images read
// through package dataset; so are the QDQ models themselves. Logits must
// agree to 1% of their range and every predicted class must match.
func TestQOperatorModelsMatchORT(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	data := filepath.Join(oracle.TestModelsDir(), "fmnist", "test.npy")
	for _, name := range []string{"cnn", "resnet", "mobilenetv2", "vit"} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(oracle.TestModelsDir(), "fmnist", "torch_ptq", name+".qdq.onnx")
			opt := filepath.Join(t.TempDir(), "optimized.onnx")
			if _, err := oracle.ORTBatch(src, nil, oracle.ORTOptions{OptLevel: "extended", OptimizedModel: opt}); err != nil {
				t.Fatalf("onnx runtime optimising %s: %v", src, err)
			}
			qoCompare(t, opt, data, true)
		})
	}
	// The QDQ models themselves, as ptq's own outputs will be run: float
	// operators between QuantizeLinear/DequantizeLinear pairs.
	for _, name := range []string{"cnn", "resnet", "mobilenetv2", "vit"} {
		t.Run("qdq/"+name, func(t *testing.T) {
			qoCompare(t, filepath.Join(oracle.TestModelsDir(), "fmnist", "torch_ptq", name+".qdq.onnx"), data, false)
		})
	}
}

// qoCompare runs model in the engine and in ONNX Runtime (optimisations
// off, so ONNX Runtime runs the graph as saved) on 64 test images and
// checks the logits and predicted classes.
func qoCompare(t *testing.T, opt, data string, wantQLinear bool) {
	mp, err := onnxio.Load(opt)
	if err != nil {
		t.Fatal(err)
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range m.Graph.Nodes {
		ops[n.OpType]++
	}
	if wantQLinear && ops["QLinearConv"] == 0 {
		t.Fatalf("ONNX Runtime's graph has no QLinearConv (ops %v): the test would not exercise the QOperator kernels", ops)
	}
	if bad := Unsupported(m); len(bad) > 0 {
		var names []string
		for _, n := range bad {
			names = append(names, n.Domain+"."+n.OpType)
		}
		t.Fatalf("unsupported: %s", strings.Join(names, ", "))
	}
	e, err := NewEngine(m, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	var ins []dataset.Input
	for _, s := range e.Inputs() {
		in := dataset.Input{Name: s.Name, DType: s.DType}
		for _, d := range s.Shape {
			in.Shape = append(in.Shape, int64(d))
		}
		ins = append(ins, in)
	}
	r, err := dataset.Open(data, ins, dataset.Options{Batch: 16, Samples: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var batches []map[string]*tensor.Tensor
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	want, err := oracle.ORTBatch(opt, batches, oracle.ORTOptions{OptLevel: "disabled"})
	if err != nil {
		t.Fatal(err)
	}
	worst, span, agree, total := 0.0, 0.0, 0, 0
	for i, b := range batches {
		got, err := e.Run(b, nil)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		for name, w := range want[i] {
			g := got[name]
			if g == nil || !slices.Equal(g.Shape, w.Shape) {
				t.Fatalf("batch %d output %q: got %v, want %v", i, name, g, w)
			}
			gv, wv := g.Float32(), w.Float32()
			for j := range wv {
				worst = math.Max(worst, math.Abs(float64(gv[j]-wv[j])))
				span = math.Max(span, math.Abs(float64(wv[j])))
			}
			// Predicted classes (argmax over the last axis).
			n := w.Shape[len(w.Shape)-1]
			for row := 0; row < len(wv); row += n {
				if argmax(gv[row:row+n]) == argmax(wv[row:row+n]) {
					agree++
				}
				total++
			}
		}
	}
	keys := make([]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("ops %v; max |logit diff| %.3g (max |logit| %.3g); %d/%d predictions agree", keys, worst, span, agree, total)
	// Float operators between quantizers may round a value to the other
	// side of a quantization step than ONNX Runtime does, and that step
	// propagates; it stays well under 1% of the logits' range.
	if worst > 0.01*span {
		t.Errorf("max |logit difference| %.3g, want <= 1%% of max |logit| %.3g", worst, span)
	}
	if agree < total {
		t.Errorf("%d of %d predictions differ from ONNX Runtime's", total-agree, total)
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
