package sgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMicroKernels checks each micro-kernel on its own against a direct
// sum over the packed panels, for beta 0 (C holds NaN and must not be read),
// 1 and another value, and for kc around the unrolling factor.
func TestMicroKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var all []*kernel
	for _, kr := range kernels() {
		all = append(all, kr)
		if kr.half != nil {
			all = append(all, kr.half)
		}
		all = append(all, kr.sub...)
	}
	for _, kr := range all {
		for _, direct := range []bool{false, true} {
			if direct && kr.direct == nil {
				continue
			}
			for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 256} {
				for _, beta := range []float32{0, 1, -0.5} {
					ldc := kr.nr + 3
					a := randSlice(r, kc*kr.mr)
					b := randSlice(r, kc*kr.nr)
					c := randSlice(r, kr.mr*ldc)
					if beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN())
						}
					}
					want := append([]float32(nil), c...)
					for i := range kr.mr {
						for j := range kr.nr {
							var s float64
							for p := range kc {
								s += float64(a[p*kr.mr+i]) * float64(b[p*kr.nr+j])
							}
							v := float32(s)
							if beta != 0 {
								v += beta * want[i*ldc+j]
							}
							want[i*ldc+j] = v
						}
					}
					if direct {
						// Same panel, laid out as a row-major mr×kc matrix with stride lda.
						lda := kc + 5
						am := make([]float32, kr.mr*lda)
						for i := range kr.mr {
							for p := range kc {
								am[i*lda+p] = a[p*kr.mr+i]
							}
						}
						kr.direct(kc, am, lda, b, c, ldc, beta)
					} else {
						kr.fn(kc, a, b, c, ldc, beta)
					}
					for i := range kr.mr {
						for j := range ldc {
							w, g := want[i*ldc+j], c[i*ldc+j]
							if j >= kr.nr {
								if math.Float32bits(w) != math.Float32bits(g) {
									t.Fatalf("%s kc=%d: wrote outside the tile at [%d,%d]", kr.name, kc, i, j)
								}
								continue
							}
							if !(math.Abs(float64(w-g)) <= 1e-5*float64(kc)) {
								t.Fatalf("%s direct=%v kc=%d beta=%g: C[%d,%d] = %v, want %v", kr.name, direct, kc, beta, i, j, g, w)
							}
						}
					}
				}
			}
		}
	}
}

func TestKernelsListed(t *testing.T) {
	ks := kernels()
	if ks[len(ks)-1] != genericKernel {
		t.Fatalf("the pure-Go kernel must be the last resort, got %v", ks[len(ks)-1].name)
	}
	if best != ks[0] {
		t.Fatalf("best = %s, want the first of %d kernels", best.name, len(ks))
	}
	if Kernel() != best.name {
		t.Fatalf("Kernel() = %q, want %q", Kernel(), best.name)
	}
	t.Logf("kernels: %d, using %s", len(ks), Kernel())
}

func TestEpilogue(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name    string
		m, n, k int
		threads int
		ep      Epilogue
	}{
		{"rowbias-relu", 70, 130, 300, 2, Epilogue{Act: Relu}},
		{"colbias-clip", 33, 65, 17, 1, Epilogue{Act: Clip, Min: -0.5, Max: 0.75}},
		{"both-none", 13, 1000, 9, 2, Epilogue{}},
		{"k0-relu", 5, 7, 0, 1, Epilogue{Act: Relu}},
		{"gemv-both-relu", 1, 300, 77, 2, Epilogue{Act: Relu}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, n, k := tc.m, tc.n, tc.k
			ep := tc.ep
			if tc.name != "colbias-clip" {
				ep.RowBias = randSlice(r, m)
			}
			if tc.name != "rowbias-relu" {
				ep.ColBias = randSlice(r, n)
			}
			a, b := randSlice(r, m*k), randSlice(r, k*n)
			c0 := randSlice(r, m*n)
			want := append([]float32(nil), c0...)
			Reference(false, false, m, n, k, 1, a, k, b, n, 0.5, want, n, 1)
			for i := range m {
				for j := range n {
					v := want[i*n+j]
					if ep.RowBias != nil {
						v += ep.RowBias[i]
					}
					if ep.ColBias != nil {
						v += ep.ColBias[j]
					}
					switch ep.Act {
					case Relu:
						v = max(v, 0)
					case Clip:
						v = min(max(v, ep.Min), ep.Max)
					}
					want[i*n+j] = v
				}
			}
			got := append([]float32(nil), c0...)
			GemmWith(Options{Threads: tc.threads, Epilogue: &ep}, false, false, m, n, k, 1, a, k, b, n, 0.5, got, n)
			clipped := 0
			for i := range want {
				if math.Abs(float64(want[i]-got[i])) > 1e-4 {
					t.Fatalf("C[%d] = %v, want %v", i, got[i], want[i])
				}
				if want[i] == 0 || want[i] == ep.Min || want[i] == ep.Max {
					clipped++
				}
			}
			if ep.Act != NoActivation && clipped == 0 {
				t.Fatalf("activation never engaged; the test would not notice it missing")
			}
		})
	}
}

// TestSteadyStateAllocs checks that the packing buffers are recycled.
func TestSteadyStateAllocs(t *testing.T) {
	m, n, k := 96, 200, 300
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n, 1)
	allocs := testing.AllocsPerRun(20, func() {
		Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n, 1)
	})
	if allocs > 0.5 {
		t.Fatalf("%v allocations per single-threaded call, want none", allocs)
	}
	allocs = testing.AllocsPerRun(50, func() {
		Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n, 2)
	})
	// Starting a worker costs the runtime a couple of small objects (the
	// go statement's argument frame); packing buffers, hundreds of KiB, must
	// still come from the pool. More than 3 per call means they do not.
	if allocs > 3 {
		t.Fatalf("%v allocations per two-thread call", allocs)
	}
	t.Logf("two threads: %v allocations per call", allocs)
}

// TestFastEpilogue checks the vectorised epilogue (where the build has one)
// against the portable one, on every width up to 40 columns so that the
// masked tail is exercised, with NaN in C.
func TestFastEpilogue(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const ldc, rows = 45, 3
	rowBias, colBias := randSlice(r, rows+2), randSlice(r, 50)
	ran := false
	for cols := 1; cols <= 40; cols++ {
		for _, ep := range []Epilogue{
			{RowBias: rowBias},
			{ColBias: colBias, Act: Relu},
			{RowBias: rowBias, ColBias: colBias, Act: Clip, Min: -0.3, Max: 0.4},
			{Act: Relu},
		} {
			c := randSlice(r, rows*ldc)
			c[cols/2] = float32(math.NaN())
			want := append([]float32(nil), c...)
			ep.applyGo(want, ldc, 2, 3, rows, cols)
			if !fastEpilogue(&ep, c, ldc, 2, 3, rows, cols) {
				continue
			}
			ran = true
			for i := range c {
				if c[i] != want[i] && !(c[i] != c[i] && want[i] != want[i]) {
					t.Fatalf("cols=%d %+v: c[%d] = %v, want %v", cols, ep, i, c[i], want[i])
				}
			}
		}
	}
	if !ran {
		t.Skip("no vectorised epilogue in this build or on this CPU")
	}
}
