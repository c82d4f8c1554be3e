package sgemm

import (
	"fmt"
	"testing"
)

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
	b.ResetTimer()
	for b.Loop() {
		gemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n, threads)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
