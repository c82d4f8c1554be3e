package sgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGemmStrided(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, tc := range []struct {
		name               string
		batch, threads     int
		m, n, k            int
		broadcastA, transB bool
	}{
		{"batch3-t2", 3, 2, 17, 31, 65, false, false},
		{"batch1-t2", 1, 2, 64, 65, 33, false, true},
		{"broadcastA-t2", 5, 2, 5, 129, 7, true, false},
		{"batch4-t1", 4, 1, 12, 32, 256, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, n, k := tc.m, tc.n, tc.k
			lda, ldb, ldc := k+1, n+2, n+3
			if tc.transB {
				ldb = k + 2
			}
			sa, sb, sc := m*lda, k*ldb+5, m*ldc+1
			if tc.transB {
				sb = n*ldb + 5
			}
			if tc.broadcastA {
				sa = 0
			}
			a := randSlice(r, sa*(tc.batch-1)+m*lda)
			b := randSlice(r, sb*tc.batch)
			c := randSlice(r, sc*tc.batch)
			want := append([]float32(nil), c...)
			for i := range tc.batch {
				Reference(false, tc.transB, m, n, k, 0.5, a[i*sa:], lda, b[i*sb:], ldb, 0.25, want[i*sc:], ldc, 1)
			}
			GemmStrided(false, tc.transB, m, n, k, 0.5, a, lda, sa, b, ldb, sb, 0.25, c, ldc, sc, tc.batch, tc.threads)
			for i := range c {
				if math.Abs(float64(c[i]-want[i])) > 1e-4 {
					t.Fatalf("c[%d] = %v, want %v", i, c[i], want[i])
				}
			}
		})
	}
}

// TestParallel checks that every index is visited exactly once for many
// shapes of work, back to back so helpers are reused while spinning and
// after parking.
func TestParallel(t *testing.T) {
	for _, tc := range []struct{ n, grain, threads int }{
		{0, 1, 2}, {1, 1, 2}, {7, 1, 2}, {100, 16, 2}, {1000, 1, 3}, {33, 4, 8}, {5, 1, 12},
	} {
		for rep := range 3 {
			seen := make([]int32, tc.n)
			Parallel(tc.n, tc.grain, tc.threads, func(lo, hi int) {
				if lo%tc.grain != 0 && lo != tc.n {
					t.Errorf("chunk starts at %d, not a multiple of grain %d", lo, tc.grain)
				}
				for i := lo; i < hi; i++ {
					seen[i]++
				}
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("%+v rep %d: index %d visited %d times", tc, rep, i, c)
				}
			}
		}
	}
}

// BenchmarkParallelForkJoin is the cost of handing a helper half of a
// trivial loop and waiting for it: what every parallel operator pays.
func BenchmarkParallelForkJoin(b *testing.B) {
	var sink [2][16]int64
	for b.Loop() {
		Parallel(2, 1, 2, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				sink[i][0]++
			}
		})
	}
}
