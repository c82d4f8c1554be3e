package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// epKernels lists the kernels with in-place-B epilogue variants.
func epKernels() []*kernel {
	var all []*kernel
	for _, kr := range kernels() {
		for _, k := range append([]*kernel{kr}, kr.sub...) {
			if k.directABE != nil {
				all = append(all, k)
			}
			if k.half != nil && k.half.directABE != nil {
				all = append(all, k.half)
			}
		}
	}
	return all
}

// TestEpKernels checks each in-place-B epilogue kernel on its own: every
// column count and row count of its tile, A in place and packed, beta 0 (C
// holds NaN and must not be read), 1 and another value, each epilogue
// step alone and together, and nothing written outside the tile.
func TestEpKernels(t *testing.T) {
	all := epKernels()
	if len(all) == 0 {
		t.Skip("no epilogue kernels on this CPU/build")
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, kr := range all {
		for _, kc := range []int{1, 3, 4, 9, 64} {
			for cols := 1; cols <= kr.nr; cols++ {
				for rows := 1; rows <= kr.mr; rows++ {
					for _, beta := range []float32{0, 1, -0.5} {
						for _, flags := range []int{0, tileRowBias, tileColBias | tileClamp, tileRowBias | tileColBias | tileClamp} {
							for _, directA := range []bool{true, false} {
								name := fmt.Sprintf("%s kc=%d cols=%d rows=%d beta=%g flags=%d directA=%v", kr.name, kc, cols, rows, beta, flags, directA)
								checkEpKernel(t, r, kr, kc, cols, rows, beta, flags, directA, name)
							}
						}
					}
				}
			}
		}
	}
}

func checkEpKernel(t *testing.T, r *rand.Rand, kr *kernel, kc, cols, rows int, beta float32, flags int, directA bool, name string) {
	t.Helper()
	lda, ldb, ldc := kc+3, cols+5, kr.nr+7
	am := randSlice(r, kr.mr*lda) // row-major, mr×kc
	b := randSlice(r, (kc-1)*ldb+cols)
	c := randSlice(r, kr.mr*ldc)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	rowBias, colBias := randSlice(r, rows), randSlice(r, cols)
	const lo, hi = -0.7, 0.9
	want := append([]float32(nil), c...)
	for i := range rows {
		for j := range cols {
			var s float64
			for p := range kc {
				s += float64(am[i*lda+p]) * float64(b[p*ldb+j])
			}
			v := float32(s)
			if beta != 0 {
				v += beta * want[i*ldc+j]
			}
			if flags&tileRowBias != 0 {
				v += rowBias[i]
			}
			if flags&tileColBias != 0 {
				v += colBias[j]
			}
			if flags&tileClamp != 0 {
				v = min(max(v, lo), hi)
			}
			want[i*ldc+j] = v
		}
	}
	args := &tileArgs{rows: rows, flags: flags, beta: beta, lo: lo, hi: hi, rowBias: &rowBias[0], colBias: &colBias[0]}
	if directA {
		kr.directABE(kc, am, lda, b, ldb, c, ldc, cols, args)
	} else {
		packed := make([]float32, kc*kr.mr)
		for i := range kr.mr {
			for p := range kc {
				packed[p*kr.mr+i] = am[i*lda+p]
			}
		}
		kr.directBE(kc, packed, kr.mr, b, ldb, c, ldc, cols, args)
	}
	for i := range kr.mr {
		for j := range ldc {
			w, g := want[i*ldc+j], c[i*ldc+j]
			if i >= rows || j >= cols {
				if math.Float32bits(w) != math.Float32bits(g) {
					t.Fatalf("%s: wrote outside the tile at [%d,%d]", name, i, j)
				}
				continue
			}
			if !(math.Abs(float64(w-g)) <= 1e-5*float64(kc+1)) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v", name, i, j, g, w)
			}
		}
	}
}

// TestGemmWithEpilogueEdges runs GemmWith with every epilogue step on the
// shapes where the in-place-B driver changes kernel: bottom edges that a
// sub-kernel fits or that need packing, right-hand edges of every width
// class, several k blocks (the epilogue must run on the last only),
// transposed A, threads.
func TestGemmWithEpilogueEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, m := range []int{1, 4, 5, 8, 12, 13, 16, 20, 23, 24, 25, 388} {
		for _, n := range []int{1, 2, 3, 4, 15, 16, 17, 18, 19, 20, 31, 32, 33, 35, 36, 49, 51, 196} {
			for _, k := range []int{1, 5, 300} {
				for _, ta := range []bool{false, true} {
					for _, threads := range []int{1, 2} {
						name := fmt.Sprintf("m=%d n=%d k=%d ta=%v t=%d", m, n, k, ta, threads)
						a, b := randSlice(r, m*k), randSlice(r, k*n)
						lda := k
						if ta {
							lda = m
						}
						ep := Epilogue{RowBias: randSlice(r, m), ColBias: randSlice(r, n), Act: Clip, Min: -0.5, Max: 0.8}
						c0 := randSlice(r, m*n)
						want := append([]float32(nil), c0...)
						Reference(ta, false, m, n, k, 1, a, lda, b, n, 0.5, want, n, 1)
						ep.applyGo(want, n, 0, 0, m, n)
						got := append([]float32(nil), c0...)
						GemmWith(Options{Threads: threads, Epilogue: &ep}, ta, false, m, n, k, 1, a, lda, b, n, 0.5, got, n)
						for i := range want {
							if d := math.Abs(float64(want[i] - got[i])); !(d <= 1e-5*float64(k+1)) {
								t.Fatalf("%s: C[%d,%d] = %v, want %v", name, i/n, i%n, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestDotKernel checks the dot-product kernel on every row count up to two
// groups of four and one more, and lengths around the vector width.
func TestDotKernel(t *testing.T) {
	var dot dotKernel
	for _, kr := range kernels() {
		if kr.dot != nil {
			dot = kr.dot
			break
		}
	}
	if dot == nil {
		t.Skip("no dot kernel on this CPU/build")
	}
	r := rand.New(rand.NewPCG(15, 16))
	for kc := 1; kc <= 40; kc++ {
		for rows := 1; rows <= 9; rows++ {
			lda := kc + 2
			a := randSlice(r, (rows-1)*lda+kc)
			x := randSlice(r, kc)
			out := randSlice(r, rows+1)
			guard := out[rows]
			dot(kc, a, lda, x, out[:rows])
			for i := range rows {
				var s float64
				for p := range kc {
					s += float64(a[i*lda+p]) * float64(x[p])
				}
				if d := math.Abs(s - float64(out[i])); d > 1e-5*float64(kc) {
					t.Fatalf("kc=%d rows=%d: out[%d] = %v, want %v", kc, rows, i, out[i], s)
				}
			}
			if out[rows] != guard {
				t.Fatalf("kc=%d rows=%d: wrote past out", kc, rows)
			}
		}
	}
}
