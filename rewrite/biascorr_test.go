package rewrite_test

import (
	"math"
	"testing"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// TestCorrectBias quantizes Conv -> Gemm, finds both as bias correction
// targets in network order, and checks that CorrectBias shifts each output
// channel's mean by minus the correction (up to the int32 bias step).
func TestCorrectBias(t *testing.T) {
	b := newPGraph().in("x", 2, 3, 4, 4).out("y", 2, 5).
		init("w", rnd(1, 4, 3, 1, 1)).init("b", rnd(2, 4)).
		init("g", rnd(3, 5, 64)).init("c", rnd(4, 5)).
		node("Conv", []string{"x", "w", "b"}, []string{"a"}).
		node("Flatten", []string{"a"}, []string{"f"}).
		node("Gemm", []string{"f", "g", "c"}, []string{"y"}, intAttr("transB", 1))
	m := mustGraph(t, b.model(13))
	plan, err := rewrite.Analyze(m, rewrite.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string]calibrate.Range{"x": {Lo: -1, Hi: 1}, "a": {Lo: -4, Hi: 4}, "f": {Lo: -4, Hi: 4}, "y": {Lo: -20, Hi: 20}}
	if _, err := rewrite.QDQ(plan, ranges); err != nil {
		t.Fatal(err)
	}
	q := roundTrip(t, m)
	targets, err := rewrite.BiasTargets(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 2 || targets[0].Node != "Conv_a" || targets[0].Channels != 4 || targets[1].Node != "Gemm_y" || targets[1].Channels != 5 {
		t.Fatalf("targets %+v, want Conv_a (4 channels) then Gemm_y (5)", targets)
	}
	in := map[string]*tensor.Tensor{"x": rnd(9, 2, 3, 4, 4)}
	before := runEngine(t, q, in)["y"].Float32()
	delta := []float64{0.5, -0.25, 1, -2, 0.125}
	if err := rewrite.CorrectBias(q, "Gemm_y", delta); err != nil {
		t.Fatal(err)
	}
	after := runEngine(t, roundTrip(t, q), in)["y"].Float32()
	for i := range before {
		got := float64(after[i] - before[i])
		// The output passes through QuantizeLinear with scale 40/255.
		if want := -delta[i%5]; math.Abs(got-want) > 40.0/255 {
			t.Errorf("output %d moved by %.4f, want %.4f", i, got, want)
		}
	}
	if err := rewrite.CorrectBias(q, "Conv_a", []float64{1}); err == nil {
		t.Error("a correction of the wrong length was accepted")
	}
}
