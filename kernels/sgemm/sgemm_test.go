package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

type gemmCase struct {
	ta, tb      bool
	m, n, k     int
	alpha, beta float32
	pad, off    int
	threads     int
}

func (g gemmCase) String() string {
	return fmt.Sprintf("ta=%v,tb=%v,m=%d,n=%d,k=%d,a=%g,b=%g,pad=%d,off=%d,t=%d", g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.beta, g.pad, g.off, g.threads)
}

// runCase multiplies random matrices with gemm and with Reference and
// compares them, with padded leading dimensions and slices starting at off.
func runCase(t *testing.T, g gemmCase, gemm func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int, int)) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(g.m*131+g.n*7+g.k), 3))
	ar, ac := g.m, g.k
	if g.ta {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.tb {
		br, bc = g.n, g.k
	}
	lda, ldb, ldc := ac+g.pad, bc+g.pad, g.n+g.pad
	a := randSlice(r, g.off+ar*lda)[g.off:]
	b := randSlice(r, g.off+br*ldb)[g.off:]
	c0 := randSlice(r, g.off+g.m*ldc)[g.off:]
	if g.beta == 0 {
		for i := range c0 {
			if i%3 == 0 {
				c0[i] = float32(math.NaN())
			}
		}
	}
	want := append([]float32(nil), c0...)
	got := append([]float32(nil), c0...)
	Reference(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, want, ldc, 1)
	gemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, got, ldc, g.threads)
	tol := 1e-5 * float64(g.k+1)
	for i := range g.m {
		for j := range ldc {
			w, h := want[i*ldc+j], got[i*ldc+j]
			if j >= g.n {
				// Padding must be left alone, NaN or not.
				if math.Float32bits(w) != math.Float32bits(h) {
					t.Fatalf("%v: padding C[%d,%d] changed: %v -> %v", g, i, j, w, h)
				}
				continue
			}
			if d := math.Abs(float64(w - h)); !(d <= tol*(1+math.Abs(float64(w)))) {
				t.Fatalf("%v: C[%d,%d] = %v, want %v", g, i, j, h, w)
			}
		}
	}
}

func TestGemmMatchesReference(t *testing.T) {
	sizes := []int{1, 2, 3, 5, 17, 20, 31, 64, 65, 127}
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for i, m := range sizes {
				for j, n := range sizes {
					k := sizes[(i+j)%len(sizes)]
					g := gemmCase{ta: ta, tb: tb, m: m, n: n, k: k, alpha: 1, beta: 0, threads: 1 + (i+j)%2, pad: (i * j) % 3, off: (i + j) % 2}
					switch (i + 2*j) % 4 {
					case 1:
						g.alpha, g.beta = 0.5, 1
					case 2:
						g.alpha, g.beta = -1.5, 0.25
					case 3:
						g.alpha, g.beta = 0, 2
					}
					for _, kr := range kernels() {
						runCase(t, g, withKernel(kr))
					}
					runCase(t, g, Gemm)
				}
			}
		}
	}
}

// withKernel forces the blocked path with micro-kernel kr, so every kernel
// the CPU supports is tested, not only the one Gemm picks; small products
// that Gemm would send to smallGemm go through the kernel too.
func withKernel(kr *kernel) func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int, int) {
	return func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
		if k == 0 || alpha == 0 || threads > 1 {
			run(kr, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, nil)
			return
		}
		blocked(kr, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil, 0, 0)
	}
}

func TestGemmLarge(t *testing.T) {
	for _, g := range []gemmCase{
		{m: 1023, n: 65, k: 127, alpha: 1, threads: 2, pad: 1, off: 1},
		{ta: true, m: 65, n: 1023, k: 31, alpha: 1, beta: 1, threads: 2},
		{tb: true, m: 17, n: 127, k: 1023, alpha: 0.5, beta: -1, threads: 1, off: 1},
		{ta: true, tb: true, m: 127, n: 129, k: 1023, alpha: 1, threads: 2, pad: 3},
		{m: 385, n: 3100, k: 300, alpha: 1, beta: 0.5, threads: 2, off: 1},
		{m: 1023, n: 17, k: 513, alpha: 2, threads: 2, pad: 2},
	} {
		for _, kr := range kernels() {
			runCase(t, g, withKernel(kr))
		}
	}
}

func TestGemmZeroK(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Gemm(false, false, 2, 2, 0, 1, nil, 0, nil, 2, 0.5, c, 2, 1)
	for i, want := range []float32{0.5, 1, 1.5, 2} {
		if c[i] != want {
			t.Fatalf("k=0: C = %v, want beta*C", c)
		}
	}
}

func TestGemmPanicsOnShortSlice(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a too-short A")
		}
	}()
	Gemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2, 1)
}
