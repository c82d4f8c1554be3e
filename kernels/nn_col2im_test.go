package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/ptq-dev/ptq/tensor"
)

// TestCol2ImIsAdjointOfIm2col checks <im2col(x), c> == <x, col2im(c)> for
// random x and c, which pins col2im down completely given im2col (itself
// tested through Conv against the reference).
func TestCol2ImIsAdjointOfIm2col(t *testing.T) {
	cases := []struct {
		img, blk, strides, dil, pads []int
	}{
		{img: []int{5, 5}, blk: []int{2, 2}, strides: []int{1, 1}},
		{img: []int{7, 6}, blk: []int{3, 2}, strides: []int{2, 1}, dil: []int{1, 2}, pads: []int{1, 0, 2, 1}},
		{img: []int{9}, blk: []int{3}, strides: []int{2}, pads: []int{1, 1}},
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range cases {
		win := nnWindow{strides: tc.strides, dilations: tc.dil, pads: tc.pads}
		g, err := win.resolve(tc.img, tc.blk)
		if err != nil {
			t.Fatal(err)
		}
		const c = 2
		x := nnRandTensor(r, append([]int{1, c}, tc.img...)...)
		col := make([]float32, c*g.kVol()*g.outVol())
		nnIm2colTile(x.Float32(), col, &g, c, 0, g.outVol())
		cv := nnRandTensor(r, 1, c*g.kVol(), g.outVol())
		var lhs float64
		for i, v := range col {
			lhs += float64(v) * float64(cv.Float32()[i])
		}
		imgT := tensor.FromInt64(toInt64s(tc.img), len(tc.img))
		blkT := tensor.FromInt64(toInt64s(tc.blk), len(tc.blk))
		out, err := (&col2ImOp{win: win}).Run(&Context{Threads: 2}, []*tensor.Tensor{cv, imgT, blkT})
		if err != nil {
			t.Fatal(err)
		}
		var rhs float64
		for i, v := range out[0].Float32() {
			rhs += float64(v) * float64(x.Float32()[i])
		}
		if d := lhs - rhs; d > 1e-3 || d < -1e-3 {
			t.Errorf("%+v: <im2col x, c> = %v, <x, col2im c> = %v", tc, lhs, rhs)
		}
	}
}

func toInt64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}
