package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The float32 MaxPool (vector max, stride-2 rows gathered) gives the
// generic loop's bits, NaN and signed zeros included, on odd geometries.
func TestMaxPool2DF32MatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 15))
	cases := []struct {
		in, k, s, pads []int
	}{
		{[]int{112, 112}, []int{3, 3}, []int{2, 2}, []int{1, 1, 1, 1}},
		{[]int{9, 37}, []int{3, 3}, []int{2, 2}, []int{1, 1, 1, 1}},
		{[]int{5, 34}, []int{3, 3}, []int{2, 2}, []int{1, 1, 0, 0}},
		{[]int{3, 70}, []int{3, 3}, []int{2, 2}, []int{1, 1, 1, 1}},
		{[]int{7, 300}, []int{2, 3}, []int{1, 2}, []int{0, 1, 1, 0}},
		{[]int{5, 19}, []int{3, 2}, []int{2, 1}, []int{1, 0, 0, 1}},
		{[]int{6, 10}, []int{2, 2}, []int{3, 3}, []int{0, 0, 0, 0}},
		// stride 2 along rows: reduced rows, odd and even widths, pads
		// reaching past both ends
		{[]int{8, 21}, []int{3, 5}, []int{2, 2}, []int{2, 2, 2, 2}},
		{[]int{9, 16}, []int{2, 2}, []int{1, 2}, []int{0, 0, 0, 0}},
		{[]int{4, 5}, []int{4, 4}, []int{2, 2}, []int{1, 3, 2, 1}},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			w := nnWindow{kernel: c.k, strides: c.s, pads: c.pads}
			g, err := w.resolve(c.in, c.k)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float32, g.inVol())
			for j := range x {
				x[j] = float32(r.NormFloat64())
				switch r.IntN(20) {
				case 0:
					x[j] = float32(math.NaN())
				case 1:
					x[j] = float32(math.Copysign(0, -1))
				case 2:
					x[j] = 0
				}
			}
			got, want := make([]float32, g.outVol()), make([]float32, g.outVol())
			maxPool2DF32(x, got, &g, nil)
			maxPool2D(x, want, &g, float32(math.Inf(-1)))
			for j := range want {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) && !(got[j] != got[j] && want[j] != want[j]) {
					t.Fatalf("[%d] = %v, want %v", j, got[j], want[j])
				}
			}
		})
	}
}
