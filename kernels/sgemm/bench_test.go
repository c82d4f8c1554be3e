package sgemm

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. The machine this was tuned
// on is shared, so GFLOP/s per CPU-second (the "cpu-GFLOP/s" metric) is
// reported next to wall-clock GFLOP/s: it shows what the code does when it
// has the cores, the wall figure what it got.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportFlops reports GFLOP/s over wall time and per CPU-second spread
// over threads cores (so both read as the speed of the whole call).
func reportFlops(b *testing.B, flops float64, cpu0 time.Duration, threads int) {
	total := flops * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(total/(cpu/float64(threads))/1e9, "cpu-GFLOP/s")
	}
}

// benchShapes are GEMMs from the models the engine is measured on: im2col
// convolutions of resnet18 (m = output channels, n = output pixels, k =
// input channels × kernel area), 1×1 convolutions of mobilenet_v2 and the
// projections of a BERT-base-sized transformer layer over 128 tokens.
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"resnet18/conv1", 64, 12544, 147},
	{"resnet18/layer1", 64, 3136, 576},
	{"resnet18/layer2", 128, 784, 1152},
	{"resnet18/layer3", 256, 196, 2304},
	{"resnet18/layer4", 512, 49, 4608},
	{"mobilenetv2/expand112", 96, 12544, 16},
	{"mobilenetv2/project56", 24, 3136, 144},
	{"mobilenetv2/expand14", 384, 196, 64},
	{"mobilenetv2/project7", 320, 49, 960},
	{"mobilenetv2/last1x1", 1280, 49, 320},
	{"transformer/qkv", 128, 768, 768},
	{"transformer/ffn1", 128, 3072, 768},
}

func BenchmarkGemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/m=%d,n=%d,k=%d/t=%d", s.name, s.m, s.n, s.k, threads), func(b *testing.B) {
				benchGemm(b, Gemm, s.m, s.n, s.k, threads)
			})
		}
	}
}

// BenchmarkKernels compares the micro-kernels on one mid-sized shape.
func BenchmarkKernels(b *testing.B) {
	for _, kr := range kernels() {
		b.Run(kr.name, func(b *testing.B) {
			benchGemm(b, withKernel(kr), 128, 784, 1152, 1)
		})
	}
}

func benchGemm(b *testing.B, gemm func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int, int), m, n, k, threads int) {
	a := make([]float32, m*k)
	bb := make([]float32, k*n)
	c := make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%7) * 0.1
	}
	for i := range bb {
		bb[i] = float32(i%5) * 0.1
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		gemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n, threads)
	}
	reportFlops(b, 2*float64(m)*float64(n)*float64(k), cpu0, threads)
}

// BenchmarkMicroKernel measures each micro-kernel on panels that sit in L1,
// the ceiling the blocked GEMM can approach.
func BenchmarkMicroKernel(b *testing.B) {
	for _, kr := range kernels() {
		b.Run(kr.name, func(b *testing.B) {
			const kc = 256
			a := make([]float32, kc*kr.mr)
			bb := make([]float32, kc*kr.nr)
			c := make([]float32, kr.mr*kr.nr)
			cpu0 := cpuTime()
			for b.Loop() {
				kr.fn(kc, a, bb, c, kr.nr, 0)
			}
			reportFlops(b, 2*float64(kr.mr*kr.nr*kc), cpu0, 1)
		})
	}
}

// BenchmarkInPlace compares reading A and B in place with packing them, on
// the fastest kernel: "packed" packs both, "directA" reads A in place,
// "auto" is what Gemm does (B in place too when m is small).
func BenchmarkInPlace(b *testing.B) {
	packed := *best
	packed.direct, packed.directAB, packed.directB = nil, nil, nil
	directA := *best
	directA.directAB, directA.directB = nil, nil
	for _, s := range benchShapes {
		for _, mode := range []struct {
			name string
			kr   *kernel
		}{{"packed", &packed}, {"directA", &directA}, {"auto", best}} {
			b.Run(fmt.Sprintf("%s/%s", s.name, mode.name), func(b *testing.B) {
				benchGemm(b, withKernel(mode.kr), s.m, s.n, s.k, 1)
			})
		}
	}
}

// BenchmarkGemv is the classifier of resnet18 on one image: Gemm with
// transB, a single row of C.
func BenchmarkGemv(b *testing.B) {
	const m, n, k = 1, 1000, 512
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("resnet18-fc/t=%d", threads), func(b *testing.B) {
			a, w, c := make([]float32, k), make([]float32, n*k), make([]float32, n)
			cpu0 := cpuTime()
			for b.Loop() {
				Gemm(false, true, m, n, k, 1, a, k, w, k, 0, c, n, threads)
			}
			reportFlops(b, 2*m*n*k, cpu0, threads)
		})
	}
}

// mobilenetV2Pointwise are the 1×1 convolutions of torchvision's
// mobilenet_v2 at 224×224 (m = output channels, n = pixels, k = input
// channels), with how often each occurs; expansions end in ReLU6,
// projections in a bias only.
var mobilenetV2Pointwise = []struct {
	m, n, k, times int
	relu6          bool
}{
	{16, 12544, 32, 1, false},
	{96, 12544, 16, 1, true},
	{24, 3136, 96, 1, false},
	{144, 3136, 24, 2, true},
	{24, 3136, 144, 1, false},
	{32, 784, 144, 1, false},
	{192, 784, 32, 3, true},
	{32, 784, 192, 2, false},
	{64, 196, 192, 1, false},
	{384, 196, 64, 4, true},
	{64, 196, 384, 3, false},
	{96, 196, 384, 1, false},
	{576, 196, 96, 3, true},
	{96, 196, 576, 2, false},
	{160, 49, 576, 1, false},
	{960, 49, 160, 3, true},
	{160, 49, 960, 2, false},
	{320, 49, 960, 1, false},
	{1280, 49, 320, 1, true},
}

// BenchmarkMobileNetV2 runs every 1×1 convolution of mobilenet_v2 once
// per iteration (as many times as the network does), with the network's
// fused bias and ReLU6: the share of its run time that the GEMM is.
// -v lists the time of each shape too.
func BenchmarkMobileNetV2(b *testing.B) {
	type op struct {
		m, n, k, times int
		a, bb, c, bias []float32
		ep             *Epilogue
	}
	var ops []op
	flops := 0.0
	for _, s := range mobilenetV2Pointwise {
		o := op{m: s.m, n: s.n, k: s.k, times: s.times, a: make([]float32, s.m*s.k), bb: make([]float32, s.k*s.n), c: make([]float32, s.m*s.n), bias: make([]float32, s.m)}
		for i := range o.a {
			o.a[i] = float32(i%7)*0.1 - 0.3
		}
		for i := range o.bb {
			o.bb[i] = float32(i%5) * 0.1
		}
		o.ep = &Epilogue{RowBias: o.bias}
		if s.relu6 {
			o.ep.Act, o.ep.Min, o.ep.Max = Clip, 0, 6
		}
		ops = append(ops, o)
		flops += 2 * float64(s.m*s.n*s.k*s.times)
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("t=%d", threads), func(b *testing.B) {
			per := make([]time.Duration, len(ops))
			cpu0 := cpuTime()
			for b.Loop() {
				for i, o := range ops {
					t0 := time.Now()
					for range o.times {
						GemmWith(Options{Threads: threads, Epilogue: o.ep}, false, false, o.m, o.n, o.k, 1, o.a, o.k, o.bb, o.n, 0, o.c, o.n)
					}
					per[i] += time.Since(t0)
				}
			}
			reportFlops(b, flops, cpu0, threads)
			for i, o := range ops {
				b.Logf("m=%4d n=%5d k=%4d x%d: %7.1f µs %6.1f GFLOP/s", o.m, o.n, o.k, o.times, float64(per[i].Microseconds())/float64(b.N),
					2*float64(o.m*o.n*o.k*o.times)*float64(b.N)/per[i].Seconds()/1e9)
			}
		})
	}
}
