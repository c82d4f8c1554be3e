package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ptq-dev/ptq/tensor"
)

func nnRandTensor(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float, shape...)
	for i := range t.Float32() {
		t.Float32()[i] = r.Float32()*2 - 1
	}
	return t
}

// TestConvFastMatchesReference runs the im2col, pointwise and depthwise
// paths against the plain-loop reference on odd shapes and threads.
func TestConvFastMatchesReference(t *testing.T) {
	cases := []struct {
		x, w               []int
		group              int
		strides, dil, pads []int
		autoPad            string
		act                nnAct
		atol               float64 // 0: 1e-5
	}{
		{x: []int{1, 3, 7, 9}, w: []int{5, 3, 3, 3}, group: 1, pads: []int{1, 1, 1, 1}},
		{x: []int{2, 4, 8, 5}, w: []int{6, 2, 3, 2}, group: 2, strides: []int{2, 1}, pads: []int{0, 1, 2, 0}},
		{x: []int{1, 17, 6, 6}, w: []int{17, 1, 3, 3}, group: 17, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, act: nnAct{kind: nnActRelu}},
		{x: []int{1, 3, 11, 10}, w: []int{6, 1, 5, 5}, group: 3, autoPad: "SAME_UPPER", dil: []int{2, 1}},
		{x: []int{3, 8, 5, 7}, w: []int{3, 8, 1, 1}, group: 1, act: nnAct{kind: nnActClip, lo: 0, hi: 0.5}},
		{x: []int{1, 8, 5, 7}, w: []int{4, 8, 1, 1}, group: 1, strides: []int{2, 3}},
		{x: []int{2, 2, 13}, w: []int{3, 2, 4}, group: 1, strides: []int{3}, pads: []int{2, 3}},
		{x: []int{1, 2, 4, 5, 6}, w: []int{4, 1, 2, 3, 2}, group: 2, pads: []int{1, 0, 1, 0, 1, 1}, autoPad: "NOTSET"},
		{x: []int{1, 5, 9, 9}, w: []int{5, 1, 3, 3}, group: 5, autoPad: "SAME_LOWER", strides: []int{3, 2}},
		{x: []int{1, 1, 1, 1}, w: []int{1, 1, 3, 3}, group: 1, pads: []int{2, 2, 2, 2}},
		{x: []int{2, 6, 10, 9}, w: []int{6, 1, 3, 3}, group: 6, pads: []int{1, 1, 1, 1}},
		{x: []int{1, 4, 10, 9}, w: []int{8, 1, 3, 3}, group: 4, pads: []int{0, 1, 1, 0}, strides: []int{1, 2}},
		{x: []int{1, 3, 12, 11}, w: []int{3, 1, 3, 3}, group: 3, pads: []int{2, 2, 2, 2}, dil: []int{2, 2}, strides: []int{2, 1}},
		{x: []int{1, 3, 13}, w: []int{3, 1, 3}, group: 3, pads: []int{1, 1}, strides: []int{2}},
		// wide rows: the vector depthwise kernels plus their scalar tails
		{x: []int{1, 5, 20, 37}, w: []int{5, 1, 3, 3}, group: 5, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{x: []int{1, 3, 9, 36}, w: []int{6, 1, 3, 3}, group: 3, strides: []int{1, 2}, pads: []int{0, 1, 1, 0}, act: nnAct{kind: nnActRelu}},
		{x: []int{1, 4, 7, 29}, w: []int{4, 1, 3, 3}, group: 4, pads: []int{1, 1, 1, 1}},
		{x: []int{1, 4, 12, 30}, w: []int{4, 1, 5, 5}, group: 4, strides: []int{2, 2}, pads: []int{2, 2, 2, 2}},
		// whole-plane depthwise kernels: rows of exactly one vector, of a
		// vector and one, of less than one
		{x: []int{1, 3, 4, 16}, w: []int{3, 1, 3, 3}, group: 3, pads: []int{1, 1, 1, 1}},
		{x: []int{2, 2, 5, 33}, w: []int{4, 1, 3, 3}, group: 2, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{x: []int{1, 2, 3, 32}, w: []int{2, 1, 3, 3}, group: 2, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{x: []int{1, 3, 7, 7}, w: []int{3, 1, 3, 3}, group: 3, pads: []int{1, 1, 1, 1}, act: nnAct{kind: nnActClip, lo: 0, hi: 6}},
		// im2col with stride 2 along the row: vector de-interleave,
		// including runs longer than its 128-value pieces
		{x: []int{1, 3, 11, 13}, w: []int{4, 3, 3, 3}, group: 1, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{x: []int{1, 2, 9, 40}, w: []int{3, 2, 7, 7}, group: 1, strides: []int{2, 2}, pads: []int{3, 3, 3, 3}},
		{x: []int{1, 1, 3, 300}, w: []int{2, 1, 1, 3}, group: 1, strides: []int{1, 2}, pads: []int{0, 1, 0, 1}},
		{x: []int{1, 4, 6, 9}, w: []int{3, 4, 1, 1}, group: 1, strides: []int{2, 2}},
		// the any-size stride-1 depthwise plane kernel
		{x: []int{1, 3, 9, 17}, w: []int{3, 1, 5, 5}, group: 3, pads: []int{2, 2, 2, 2}},
		{x: []int{2, 2, 6, 40}, w: []int{4, 1, 7, 7}, group: 2, pads: []int{3, 3, 3, 3}, act: nnAct{kind: nnActRelu}},
		{x: []int{1, 4, 5, 16}, w: []int{4, 1, 3, 1}, group: 4, pads: []int{1, 0, 1, 0}},
		{x: []int{1, 2, 4, 6}, w: []int{2, 1, 2, 5}, group: 2, pads: []int{0, 1, 1, 2}},
		// im2col of stride-1 "same" rows as shifted copies: dilated rows,
		// taps reaching past a narrow plane
		{x: []int{1, 2, 9, 10}, w: []int{3, 2, 3, 3}, group: 1, dil: []int{2, 1}, pads: []int{2, 1, 2, 1}},
		{x: []int{1, 3, 5, 3}, w: []int{2, 3, 5, 5}, group: 1, pads: []int{2, 2, 2, 2}},
		{x: []int{2, 2, 4, 2}, w: []int{3, 2, 7, 7}, group: 1, pads: []int{3, 3, 3, 3}},
		{x: []int{1, 2, 6, 5}, w: []int{3, 2, 3, 2}, group: 1, pads: []int{0, 1, 1, 0}},
		// several im2col tiles, tiles splitting output rows
		{x: []int{1, 64, 20, 23}, w: []int{8, 64, 3, 3}, group: 1, pads: []int{1, 1, 1, 1}, act: nnAct{kind: nnActRelu}},
		{x: []int{2, 64, 41, 23}, w: []int{6, 32, 3, 2}, group: 2, strides: []int{2, 1}, pads: []int{1, 0, 1, 1}},
		{x: []int{1, 300, 30, 31}, w: []int{5, 300, 1, 1}, group: 1},
		// im2col stepping output rows and planes across tiles: small odd
		// planes with stride 2, a 3-D volume with padding in depth
		{x: []int{1, 96, 15, 7}, w: []int{7, 96, 3, 3}, group: 1, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{x: []int{1, 40, 5, 7, 9}, w: []int{3, 40, 3, 2, 3}, group: 1, strides: []int{2, 1, 2}, pads: []int{1, 0, 1, 1, 1, 2}},
		{x: []int{1, 130, 9, 5}, w: []int{4, 130, 3, 3}, group: 1, strides: []int{1, 3}, pads: []int{0, 2, 1, 1}},
		// stride 2 along rows from column-split inputs: groups, batches,
		// dilation, uneven pads, tiles that split output rows
		{x: []int{2, 4, 13, 15}, w: []int{6, 2, 3, 3}, group: 2, strides: []int{2, 2}, dil: []int{2, 2}, pads: []int{2, 1, 1, 2}},
		{x: []int{1, 32, 80, 81}, w: []int{8, 32, 3, 3}, group: 1, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, act: nnAct{kind: nnActRelu}},
		// packed weight panels (constant weights, 16 or more outputs per
		// group): a last panel only partly used, a 7×7 stem, groups, 5×5
		{x: []int{2, 8, 17, 19}, w: []int{30, 8, 3, 3}, group: 1, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, act: nnAct{kind: nnActRelu}},
		{x: []int{1, 3, 40, 40}, w: []int{32, 3, 7, 7}, group: 1, strides: []int{2, 2}, pads: []int{3, 3, 3, 3}},
		{x: []int{1, 32, 12, 12}, w: []int{32, 16, 3, 3}, group: 2, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{x: []int{1, 16, 10, 10}, w: []int{16, 16, 5, 5}, group: 1, pads: []int{2, 2, 2, 2}, act: nnAct{kind: nnActClip, lo: -0.2, hi: 0.3}},
		// implicit GEMM over many tiles of output rows, uneven pads,
		// dilation at stride 2
		{x: []int{1, 2, 200, 300}, w: []int{16, 2, 3, 3}, group: 1, pads: []int{1, 0, 2, 1}},
		{x: []int{2, 3, 23, 26}, w: []int{17, 3, 3, 3}, group: 1, strides: []int{2, 2}, dil: []int{2, 2}, pads: []int{2, 1, 0, 2}},
		// Winograd: 3×3 stride 1 with enough channels
		// (its rounding scales with the partial sums, not the output)
		{x: []int{2, 16, 9, 12}, w: []int{16, 16, 3, 3}, group: 1, pads: []int{1, 1, 1, 1}, act: nnAct{kind: nnActClip, lo: 0, hi: 0.5}, atol: 1e-4},
		// F(4×4): enough tiles of 4, a small weight
		{x: []int{1, 16, 18, 21}, w: []int{16, 16, 3, 3}, group: 1, pads: []int{1, 1, 1, 1}, act: nnAct{kind: nnActRelu}, atol: 5e-4},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i, tc := range cases {
		for _, threads := range []int{1, 2, 5} {
			t.Run(fmt.Sprintf("%d/t%d", i, threads), func(t *testing.T) {
				x, w, b := nnRandTensor(r, tc.x...), nnRandTensor(r, tc.w...), nnRandTensor(r, tc.w[0])
				win := nnWindow{strides: tc.strides, dilations: tc.dil, pads: tc.pads, autoPad: tc.autoPad}
				// constW: weights may be prepared (packed, transformed) once
				fast := &convOp{win: win, group: tc.group, act: tc.act, constW: true}
				plain := &convOp{win: win, group: tc.group, act: tc.act}
				ref := &convOp{win: win, group: tc.group, act: tc.act, ref: true}
				ctx := &Context{Threads: threads}
				for _, bias := range []*tensor.Tensor{b, nil} {
					got, err := fast.Run(ctx, []*tensor.Tensor{x, w, bias})
					if err != nil {
						t.Fatal(err)
					}
					gotPlain, err := plain.Run(ctx, []*tensor.Tensor{x, w, bias})
					if err != nil {
						t.Fatal(err)
					}
					want, err := ref.Run(ctx, []*tensor.Tensor{x, w, bias})
					if err != nil {
						t.Fatal(err)
					}
					atol := tc.atol
					if atol == 0 {
						atol = 1e-5
					}
					if err := nnCompare(got[0], want[0], 1e-5, atol); err != nil {
						t.Fatal(err)
					}
					if err := nnCompare(gotPlain[0], want[0], 1e-5, atol); err != nil {
						t.Fatalf("weights not constant: %v", err)
					}
				}
			})
		}
	}
}

// BenchmarkConv times resnet18- and mobilenet_v2-like convolutions at batch 1.
func BenchmarkConv(b *testing.B) {
	cases := []struct {
		name         string
		x, w         []int
		group, s, pd int
	}{
		{"resnet_conv1_7x7s2", []int{1, 3, 224, 224}, []int{64, 3, 7, 7}, 1, 2, 3},
		{"resnet_l1_3x3_64", []int{1, 64, 56, 56}, []int{64, 64, 3, 3}, 1, 1, 1},
		{"resnet_l2_3x3_128", []int{1, 128, 28, 28}, []int{128, 128, 3, 3}, 1, 1, 1},
		{"resnet_l3_3x3_256", []int{1, 256, 14, 14}, []int{256, 256, 3, 3}, 1, 1, 1},
		{"resnet_l4_3x3_512", []int{1, 512, 7, 7}, []int{512, 512, 3, 3}, 1, 1, 1},
		{"resnet_down_1x1s2", []int{1, 128, 28, 28}, []int{256, 128, 1, 1}, 1, 2, 0},
		{"resnet_l2_3x3s2_64", []int{1, 64, 56, 56}, []int{128, 64, 3, 3}, 1, 2, 1},
		{"resnet_l4_3x3s2_256", []int{1, 256, 14, 14}, []int{512, 256, 3, 3}, 1, 2, 1},
		{"mbv2_pw_1x1_96_24", []int{1, 96, 56, 56}, []int{24, 96, 1, 1}, 1, 1, 0},
		{"mbv2_dw_3x3_144", []int{1, 144, 56, 56}, []int{144, 1, 3, 3}, 144, 1, 1},
		{"mbv2_dw_3x3s2_96", []int{1, 96, 112, 112}, []int{96, 1, 3, 3}, 96, 2, 1},
		{"effnet_dw_5x5_240", []int{1, 240, 28, 28}, []int{240, 1, 5, 5}, 240, 1, 2},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range cases {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", tc.name, threads), func(b *testing.B) {
				x, w, bias := nnRandTensor(r, tc.x...), nnRandTensor(r, tc.w...), nnRandTensor(r, tc.w[0])
				nd := len(tc.x) - 2
				win := nnWindow{strides: []int{tc.s, tc.s}[:nd], pads: []int{tc.pd, tc.pd, tc.pd, tc.pd}[:2*nd]}
				// constW as for a model's initializer: prepared weights are cached
				op := &convOp{win: win, group: tc.group, constW: true}
				ctx := &Context{Threads: threads}
				out, err := op.Run(ctx, []*tensor.Tensor{x, w, bias})
				if err != nil {
					b.Fatal(err)
				}
				flops := 2 * float64(out[0].Len()) * float64(tensor.NumElements(tc.w[1:]))
				b.ResetTimer()
				for range b.N {
					if _, err := op.Run(ctx, []*tensor.Tensor{x, w, bias}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestConvTransposeFastMatchesReference checks the GEMM+col2im path against
// the scatter reference.
func TestConvTransposeFastMatchesReference(t *testing.T) {
	cases := []struct {
		x, w                       []int
		group                      int
		strides, dil, pads, outPad []int
	}{
		{x: []int{1, 3, 5, 4}, w: []int{3, 2, 3, 3}, group: 1, strides: []int{2, 2}, pads: []int{1, 0, 1, 1}, outPad: []int{1, 0}},
		{x: []int{2, 4, 3, 5}, w: []int{4, 3, 2, 3}, group: 2, strides: []int{1, 3}, dil: []int{2, 1}},
		{x: []int{1, 2, 7}, w: []int{2, 5, 4}, group: 1, strides: []int{3}, pads: []int{2, 1}},
		{x: []int{1, 2, 2, 3, 2}, w: []int{2, 1, 2, 2, 3}, group: 2, strides: []int{2, 1, 2}},
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			x, w := nnRandTensor(r, tc.x...), nnRandTensor(r, tc.w...)
			b := nnRandTensor(r, tc.w[1]*tc.group)
			win := nnWindow{strides: tc.strides, dilations: tc.dil, pads: tc.pads}
			fast := &convTransposeOp{win: win, group: tc.group, outPad: tc.outPad}
			ref := &convTransposeOp{win: win, group: tc.group, outPad: tc.outPad, ref: true}
			ctx := &Context{Threads: 2}
			got, err := fast.Run(ctx, []*tensor.Tensor{x, w, b})
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Run(ctx, []*tensor.Tensor{x, w, b})
			if err != nil {
				t.Fatal(err)
			}
			if err := nnCompare(got[0], want[0], 1e-5, 1e-5); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFuseActivation checks that a fused Clip equals the unfused op
// followed by the clamp, for Conv and Gemm, and that fusing twice is refused.
func TestFuseActivation(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	x, w, b := nnRandTensor(r, 1, 3, 6, 6), nnRandTensor(r, 4, 3, 3, 3), nnRandTensor(r, 4)
	clip := nnAct{kind: nnActClip, lo: -0.25, hi: 0.5}
	ops := []struct {
		name  string
		plain Op
		fused Op
		in    []*tensor.Tensor
	}{
		{"conv", &convOp{group: 1}, &convOp{group: 1}, []*tensor.Tensor{x, w, b}},
		{"gemm", &gemmOp{alpha: 1, beta: 1}, &gemmOp{alpha: 1, beta: 1}, []*tensor.Tensor{nnRandTensor(r, 5, 7), nnRandTensor(r, 7, 3), nnRandTensor(r, 3)}},
	}
	for _, tc := range ops {
		if !fuseActivation(tc.fused, clip) {
			t.Fatalf("%s: fuse refused", tc.name)
		}
		if fuseActivation(tc.fused, nnAct{kind: nnActRelu}) {
			t.Errorf("%s: second fusion accepted", tc.name)
		}
		want, err := tc.plain.Run(nil, tc.in)
		if err != nil {
			t.Fatal(err)
		}
		wd := want[0].Float32()
		clipped := 0
		for i, v := range wd {
			if v < clip.lo || v > clip.hi {
				clipped++
			}
			wd[i] = min(max(v, clip.lo), clip.hi)
		}
		if clipped == 0 {
			t.Fatalf("%s: test data never reaches the clip bounds", tc.name)
		}
		got, err := tc.fused.Run(nil, tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := nnCompare(got[0], want[0], 1e-6, 1e-6); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if fuseActivation(&poolOp{}, clip) {
		t.Error("pool accepted a fused activation")
	}
}

// TestDepthwiseRowKernel compares the vector 3x3 row kernel (when the CPU
// has one) with the scalar formula on every length up to 41.
func TestDepthwiseRowKernel(t *testing.T) {
	if nnDwRow3s1 == nil {
		t.Skip("no vector depthwise kernel on this CPU/build")
	}
	r := rand.New(rand.NewPCG(19, 20))
	var w [9]float32
	for i := range w {
		w[i] = r.Float32()*2 - 1
	}
	for n := range 42 {
		rows := [3][]float32{}
		for i := range rows {
			rows[i] = nnRandTensor(r, n+2).Float32()
		}
		dst := make([]float32, n)
		done := nnDwRow3s1(dst, rows[0], rows[1], rows[2], &w, 0.25)
		if done != n&^7 {
			t.Fatalf("n=%d: kernel did %d outputs, want %d", n, done, n&^7)
		}
		for i := range done {
			want := float32(0.25)
			for k := range 9 {
				want += w[k] * rows[k/3][i+k%3]
			}
			if d := dst[i] - want; d > 1e-5 || d < -1e-5 {
				t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], want)
			}
		}
	}
}

func TestDeinterleave(t *testing.T) {
	for n := range 40 {
		src := make([]float32, 2*n+1)
		for i := range src {
			src[i] = float32(i)
		}
		ev, od := make([]float32, n), make([]float32, n)
		nnDeinterleave(ev, od, src)
		for i := range n {
			if ev[i] != float32(2*i) || od[i] != float32(2*i+1) {
				t.Fatalf("n=%d: ev[%d]=%v od[%d]=%v", n, i, ev[i], i, od[i])
			}
		}
	}
}
