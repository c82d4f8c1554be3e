package testmodels

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/tensor"
)

// Every edge model runs in ONNX Runtime on its calibration data, one sample
// per run, and gives finite outputs that are not all zero.
func TestEdgeModelsRun(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	for _, tc := range []struct {
		name, input string
		outputs     []string
	}{
		{"if_weights", "x", []string{"y"}},
		{"loop_weights", "x", []string{"y"}},
		{"shared_init", "x", []string{"y", "h1"}},
		{"odd_names", "input:0 (NCHW)", []string{"out put/1", "feat:0 (relu)/ä"}},
		{"constant_weights", "x", []string{"y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := read(t, filepath.Join("edge", tc.name+".calib.npy"))
			per := x.Len() / x.Shape[0]
			var samples []map[string]*tensor.Tensor
			for i := range x.Shape[0] {
				s := tensor.FromFloat32(x.Float32()[i*per:(i+1)*per], append([]int{1}, x.Shape[1:]...)...)
				samples = append(samples, map[string]*tensor.Tensor{tc.input: s})
			}
			outs, err := oracle.ORTBatch(filepath.Join("edge", tc.name+".onnx"), samples, oracle.ORTOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range tc.outputs {
				nonzero := 0
				for i, o := range outs {
					y := o[name]
					if y == nil {
						t.Fatalf("sample %d: no output %q", i, name)
					}
					for _, v := range y.Float32() {
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Fatalf("sample %d output %q: %v", i, name, v)
						}
						if v != 0 {
							nonzero++
						}
					}
				}
				if nonzero == 0 {
					t.Errorf("output %q is zero on every sample", name)
				}
			}
			if tc.name == "if_weights" {
				pos := 0
				for _, s := range samples {
					sum := float32(0)
					for _, v := range s["x"].Float32() {
						sum += v
					}
					if sum > 0 {
						pos++
					}
				}
				if pos < len(samples)/4 || pos > len(samples)*3/4 {
					t.Errorf("%d of %d calibration samples take the then branch: want both branches used", pos, len(samples))
				}
			}
		})
	}
}
