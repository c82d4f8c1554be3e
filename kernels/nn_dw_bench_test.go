package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ptq-dev/ptq/tensor"
)

// BenchmarkDepthwiseMobileNetV2 runs every depthwise convolution of
// torchvision's mobilenet_v2 at 224×224 (fused ReLU6, outputs recycled as
// the engine does), at 1 and 2 threads; -v lists the time per layer
// shape.
func BenchmarkDepthwiseMobileNetV2(b *testing.B) {
	layers := []struct{ c, hw, s, times int }{
		{32, 112, 1, 1}, {96, 112, 2, 1}, {144, 56, 1, 1}, {144, 56, 2, 1}, {192, 28, 1, 2}, {192, 28, 2, 1},
		{384, 14, 1, 4}, {576, 14, 1, 2}, {576, 14, 2, 1}, {960, 7, 1, 3},
	}
	r := rand.New(rand.NewPCG(5, 6))
	type layer struct {
		op    *convOp
		in    []*tensor.Tensor
		times int
		name  string
	}
	var ls []layer
	for _, l := range layers {
		op := &convOp{win: nnWindow{strides: []int{l.s, l.s}, pads: []int{1, 1, 1, 1}}, group: l.c, act: nnAct{kind: nnActClip, lo: 0, hi: 6}}
		in := []*tensor.Tensor{nnRandTensor(r, 1, l.c, l.hw, l.hw), nnRandTensor(r, l.c, 1, 3, 3), nnRandTensor(r, l.c)}
		ls = append(ls, layer{op, in, l.times, fmt.Sprintf("c=%d %dx%d s%d x%d", l.c, l.hw, l.hw, l.s, l.times)})
	}
	var out *tensor.Tensor
	alloc := func(dt tensor.DType, shape []int, zero bool) *tensor.Tensor {
		if out == nil || out.Len() < tensor.NumElements(shape) {
			out = tensor.New(dt, tensor.NumElements(shape))
		}
		return &tensor.Tensor{DType: dt, Shape: shape, Data: out.Float32()[:tensor.NumElements(shape)]}
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("t=%d", threads), func(b *testing.B) {
			ctx := &Context{Threads: threads, alloc: alloc}
			per := make([]time.Duration, len(ls))
			for b.Loop() {
				for i, l := range ls {
					t0 := time.Now()
					for range l.times {
						if _, err := l.op.Run(ctx, l.in); err != nil {
							b.Fatal(err)
						}
					}
					per[i] += time.Since(t0)
				}
			}
			for i, l := range ls {
				b.Logf("%-22s %7.1f µs", l.name, float64(per[i].Microseconds())/float64(b.N))
			}
		})
	}
}
