package main

import (
	"bytes"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/tensor"
)

// TestConvertPPOCRSameORTOutputs runs the three PP-OCR models before and
// after `ptq convert` in ONNX Runtime on the same seeded random image and
// wants identical outputs (the conformance sample leaves them out).
func TestConvertPPOCRSameORTOutputs(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	oracle.Require(t, oracle.PPOCROracle)
	shapes := map[string][]int{"det": {1, 3, 64, 96}, "rec": {1, 3, 48, 160}, "cls": {1, 3, 48, 192}}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	for _, name := range []string{"det", "rec", "cls"} {
		in := oracle.PPOCRModel(name)
		x := tensor.New(tensor.Float, shapes[name]...)
		data := x.Data.([]float32)
		for i := range data {
			data[i] = rng.Float32()*2 - 1
		}
		out := filepath.Join(dir, name+".onnx")
		var so, se bytes.Buffer
		if code := run([]string{"ptq", "convert", in, out}, &so, &se); code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, se.String())
		}
		feed := map[string]*tensor.Tensor{"x": x}
		want, err := oracle.ORT(in, feed, oracle.ORTOptions{})
		if err != nil {
			t.Fatalf("%s: original: %v", name, err)
		}
		got, err := oracle.ORT(out, feed, oracle.ORTOptions{})
		if err != nil {
			t.Fatalf("%s: converted: %v", name, err)
		}
		if len(want) == 0 || !sameOutputs(t, want, got) {
			t.Errorf("%s: outputs differ after ptq convert", name)
		}
	}
}
