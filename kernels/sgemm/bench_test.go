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
