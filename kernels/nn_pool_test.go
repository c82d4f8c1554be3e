package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptq-dev/ptq/tensor"
)

// TestPoolsSmall checks hand-computed windows, including ones the
// conformance data does not have (dilated average pool, Lp pool).
func TestPoolsSmall(t *testing.T) {
	// 1x1x3x4 input 0..11
	x := tensor.New(tensor.Float, 1, 1, 3, 4)
	for i := range x.Float32() {
		x.Float32()[i] = float32(i)
	}
	cases := []struct {
		name string
		op   *poolOp
		want []float32
	}{
		{"max 2x2 s2", &poolOp{kind: "MaxPool", win: nnWindow{kernel: []int{2, 2}, strides: []int{2, 2}}}, []float32{5, 7}},
		{"avg dilated", &poolOp{kind: "AveragePool", win: nnWindow{kernel: []int{2, 2}, dilations: []int{2, 2}}}, []float32{5, 6}},
		{"avg pad exclude", &poolOp{kind: "AveragePool", win: nnWindow{kernel: []int{2, 2}, strides: []int{2, 2}, pads: []int{1, 1, 0, 0}}},
			[]float32{0, 1.5, 6, 7.5}},
		{"avg pad include", &poolOp{kind: "AveragePool", includePad: true, win: nnWindow{kernel: []int{2, 2}, strides: []int{2, 2}, pads: []int{1, 1, 0, 0}}},
			[]float32{0, 0.75, 3, 7.5}},
		{"lp p2", &poolOp{kind: "LpPool", p: 2, win: nnWindow{kernel: []int{1, 2}, strides: []int{1, 2}}},
			[]float32{1, float32(math.Sqrt(13)), float32(math.Sqrt(16 + 25)), float32(math.Sqrt(36 + 49)), float32(math.Sqrt(64 + 81)), float32(math.Sqrt(100 + 121))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			y, err := tc.op.Run(nil, []*tensor.Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			got := y[0].Float32()
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if math.Abs(float64(got[i]-tc.want[i])) > 1e-5 {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func BenchmarkPool(b *testing.B) {
	r := rand.New(rand.NewPCG(15, 16))
	x := nnRandTensor(r, 1, 64, 112, 112)
	ops := map[string]Op{
		"resnet_maxpool_3x3s2": &poolOp{kind: "MaxPool", win: nnWindow{kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}}},
		"vgg_maxpool_2x2s2":    &poolOp{kind: "MaxPool", win: nnWindow{kernel: []int{2, 2}, strides: []int{2, 2}}},
		"avgpool_3x3s2":        &poolOp{kind: "AveragePool", win: nnWindow{kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}}},
		"globalavg":            &globalPoolOp{kind: "GlobalAveragePool"},
	}
	for name, op := range ops {
		b.Run(name, func(b *testing.B) {
			ctx := &Context{Threads: 1}
			for range b.N {
				if _, err := op.Run(ctx, []*tensor.Tensor{x}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
