package rewrite_test

import (
	"math"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// unbalanced is a random weight tensor whose output channels (axis 0) are
// scaled by factors spread over three orders of magnitude, as BatchNorm
// folding leaves them.
func unbalanced(seed uint64, shape ...int) *tensor.Tensor {
	t := rnd(seed, shape...)
	per := t.Len() / shape[0]
	f := rnd(seed+100, shape[0]).Float32()
	for i := 0; i < shape[0]; i++ {
		s := float32(math.Pow(10, 1.5*float64(f[i])))
		for k := i * per; k < (i+1)*per; k++ {
			t.Float32()[k] *= s
		}
	}
	return t
}

func intAttr(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: &name, Type: onnx.AttributeProto_INT.Enum(), I: &v}
}

// spread is the sum over the Conv nodes whose output feeds another layer
// through Relu or directly of log(max/min) of their per-output-channel
// weight ranges.
func spread(t *testing.T, m *graph.Model) float64 {
	t.Helper()
	var s float64
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Conv" || n.Inputs[1].Name == "w4" || n.Inputs[1].Name == "w5" {
			continue // outputs feed the Clip, or no layer: nothing to balance against
		}
		w, err := onnxio.ToTensor(n.Inputs[1].Initializer)
		if err != nil {
			t.Fatal(err)
		}
		d := w.Float32()
		per := len(d) / w.Shape[0]
		lo, hi := math.Inf(1), 0.0
		for i := 0; i < w.Shape[0]; i++ {
			r := 0.0
			for _, v := range d[i*per : (i+1)*per] {
				r = max(r, math.Abs(float64(v)))
			}
			lo, hi = min(lo, r), max(hi, r)
		}
		s += math.Log(hi / lo)
	}
	return s
}

// TestCrossLayerEqualization equalizes a chain Conv -> Relu -> depthwise
// Conv -> pointwise Conv -> Relu -> Conv -> GlobalAveragePool -> Flatten ->
// Gemm -> Relu -> Gemm with badly unbalanced channels, and a ReLU6 pair
// that must be left alone: float outputs must not change beyond rounding
// and the per-channel weight ranges must even out.
func TestCrossLayerEqualization(t *testing.T) {
	b := newPGraph().in("x", 2, 3, 8, 8).out("y", 2, 5).
		init("w1", unbalanced(1, 8, 3, 3, 3)).init("b1", rnd(2, 8)).
		init("w2", unbalanced(3, 8, 1, 3, 3)).init("b2", rnd(4, 8)).
		init("w3", unbalanced(5, 16, 8, 1, 1)).init("b3", rnd(6, 16)).
		init("w4", unbalanced(7, 16, 16, 1, 1)).
		init("w5", unbalanced(8, 16, 16, 1, 1)).init("b5", rnd(9, 16)).
		init("lo", tensor.FromFloat32([]float32{0})).init("hi", tensor.FromFloat32([]float32{6})).
		init("g1", rnd(10, 16, 12)).init("c1", rnd(11, 12)).
		init("g2", rnd(12, 5, 12)).init("c2", rnd(13, 5)).
		node("Conv", []string{"x", "w1", "b1"}, []string{"a1"}, intsAttr("pads", 1, 1, 1, 1)).
		node("Relu", []string{"a1"}, []string{"r1"}).
		node("Conv", []string{"r1", "w2", "b2"}, []string{"a2"}, intsAttr("pads", 1, 1, 1, 1), intAttr("group", 8)).
		node("Conv", []string{"a2", "w3", "b3"}, []string{"a3"}).
		node("Relu", []string{"a3"}, []string{"r3"}).
		node("Conv", []string{"r3", "w4"}, []string{"a4"}).
		node("Clip", []string{"a4", "lo", "hi"}, []string{"r4"}).
		node("Conv", []string{"r4", "w5", "b5"}, []string{"a5"}).
		node("GlobalAveragePool", []string{"a5"}, []string{"p"}).
		node("Flatten", []string{"p"}, []string{"f"}).
		node("Gemm", []string{"f", "g1", "c1"}, []string{"h"}, intAttr("transB", 0)).
		node("Relu", []string{"h"}, []string{"rh"}).
		node("Gemm", []string{"rh", "g2", "c2"}, []string{"y"}, intAttr("transB", 1))
	before := mustGraph(t, b.model(13))
	after := roundTrip(t, before)
	if err := rewrite.CrossLayerEqualization(after, rewrite.CLEOptions{}); err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Tensor{"x": rnd(20, 2, 3, 8, 8)}
	want, got := runEngine(t, before, in), runEngine(t, roundTrip(t, after), in)
	sameOutputs(t, want, got, 1e-4*maxAbs(want["y"]))
	sb, sa := spread(t, before), spread(t, after)
	t.Logf("Conv weight range spread (sum of log max/min): %.2f before, %.2f after", sb, sa)
	if !(sa < 0.5*sb) {
		t.Errorf("CLE did not even out the ranges: spread %.2f before, %.2f after", sb, sa)
	}
	// The Conv before the Clip is the second layer of a pair, so its input
	// channels change, but the Clip's own output channels must not.
	w5 := func(m *graph.Model) []float32 {
		tt, err := onnxio.ToTensor(m.Graph.Value("w5").Initializer)
		if err != nil {
			t.Fatal(err)
		}
		return tt.Float32()
	}
	for i, v := range w5(before) {
		if w5(after)[i] != v {
			t.Fatalf("the Conv after Clip(0, 6) was rescaled: weight %d %g -> %g", i, v, w5(after)[i])
		}
	}
}

func maxAbs(t *tensor.Tensor) float64 {
	m := 0.0
	for _, v := range t.Float32() {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

func intsAttr(name string, v ...int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: &name, Type: onnx.AttributeProto_INTS.Enum(), Ints: v}
}

// TestCrossLayerEqualizationClip equalizes a pair joined by Clip(0, 6)
// given the per-channel maxima of the tensor entering the Clip: channels
// the Clip cuts keep their scale, the others are rescaled but stay below
// 6, so the outputs on the data the maxima came from do not change.
func TestCrossLayerEqualizationClip(t *testing.T) {
	b := newPGraph().in("x", 4, 3, 8, 8).out("y", 4, 16, 8, 8).
		init("w1", unbalanced(31, 16, 3, 3, 3)).init("b1", rnd(32, 16)).
		init("w2", unbalanced(33, 16, 1, 3, 3)).init("b2", rnd(34, 16)).
		init("lo", tensor.FromFloat32([]float32{0})).init("hi", tensor.FromFloat32([]float32{6})).
		node("Conv", []string{"x", "w1", "b1"}, []string{"a1"}, intsAttr("pads", 1, 1, 1, 1)).
		node("Clip", []string{"a1", "lo", "hi"}, []string{"r1"}).
		node("Conv", []string{"r1", "w2", "b2"}, []string{"y"}, intsAttr("pads", 1, 1, 1, 1), intAttr("group", 16))
	before := mustGraph(t, b.model(13))
	if got := rewrite.CLEPairs(before); len(got) != 1 || got[0].ClipInput != "a1" {
		t.Fatalf("CLEPairs = %v, want one pair joined by a Clip of a1", got)
	}
	in := map[string]*tensor.Tensor{"x": rnd(35, 4, 3, 8, 8)}
	maxima := channelMax(t, before, in, "a1")
	active := 0
	for _, m := range maxima {
		if m > 6 {
			active++
		}
	}
	if active == 0 || active == len(maxima) {
		t.Fatalf("fixture: %d of %d channels reach the clip; want some but not all", active, len(maxima))
	}

	after := roundTrip(t, before)
	if err := rewrite.CrossLayerEqualization(after, rewrite.CLEOptions{ClipInputMax: map[string][]float32{"a1": maxima}}); err != nil {
		t.Fatal(err)
	}
	want, got := runEngine(t, before, in), runEngine(t, roundTrip(t, after), in)
	sameOutputs(t, want, got, 1e-4*maxAbs(want["y"]))

	w1 := func(m *graph.Model) []float32 {
		tt, err := onnxio.ToTensor(m.Graph.Value("w1").Initializer)
		if err != nil {
			t.Fatal(err)
		}
		return tt.Float32()
	}
	wb, wa := w1(before), w1(after)
	per := len(wb) / len(maxima)
	changed := 0
	for i, m := range maxima {
		same := true
		for k := i * per; k < (i+1)*per; k++ {
			same = same && wa[k] == wb[k]
		}
		switch {
		case m > 6 && !same:
			t.Errorf("channel %d reaches the clip (max %.2f) but was rescaled", i, m)
		case m <= 6 && !same:
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("no channel below the clip was rescaled")
	}
	for i, m := range channelMax(t, roundTrip(t, after), in, "a1") {
		if maxima[i] <= 6 && m > 6*(1+1e-5) {
			t.Errorf("channel %d now reaches the clip: max %.3f -> %.3f", i, maxima[i], m)
		}
	}

	// Without the maxima, or not selected, the pair is left alone.
	for name, opts := range map[string]rewrite.CLEOptions{
		"without maxima": {},
		"not selected":   {ClipInputMax: map[string][]float32{"a1": maxima}, Select: func(p rewrite.CLEPair) bool { return p.ClipInput == "" }},
	} {
		plain := roundTrip(t, before)
		if err := rewrite.CrossLayerEqualization(plain, opts); err != nil {
			t.Fatal(err)
		}
		for k, v := range w1(plain) {
			if v != wb[k] {
				t.Fatalf("%s: pair joined by Clip rescaled: weight %d %g -> %g", name, k, wb[k], v)
			}
		}
	}
}

// channelMax runs m and returns the per-channel (axis 1) maximum of value.
func channelMax(t *testing.T, m *graph.Model, in map[string]*tensor.Tensor, value string) []float32 {
	t.Helper()
	e, err := kernels.NewEngine(m, kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	_, err = e.Run(in, func(name string, _ *graph.Node, v *tensor.Tensor) error {
		if name != value {
			return nil
		}
		c := v.Shape[1]
		inner := v.Len() / (v.Shape[0] * c)
		out = make([]float32, c)
		for i := range out {
			out[i] = float32(math.Inf(-1))
		}
		d := v.Float32()
		for k := range d {
			ch := k / inner % c
			out[ch] = max(out[ch], d[k])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
