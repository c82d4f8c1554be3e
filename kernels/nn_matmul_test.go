package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ptq-dev/ptq/tensor"
)

// TestGemmFastMatchesReference covers transposes, alpha/beta, C broadcast
// and odd sizes on the sgemm path.
func TestGemmFastMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	sizes := [][3]int{{1, 1, 1}, {3, 17, 5}, {17, 3, 33}, {64, 65, 31}, {1, 1023, 3}, {129, 1, 70}}
	cshapes := func(m, n int) [][]int { return [][]int{nil, {}, {n}, {1, n}, {m, 1}, {m, n}} }
	for _, s := range sizes {
		m, n, k := s[0], s[1], s[2]
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for ci, cs := range cshapes(m, n) {
				name := fmt.Sprintf("%dx%dx%d/tA=%v,tB=%v/C%d", m, n, k, tr[0], tr[1], ci)
				t.Run(name, func(t *testing.T) {
					as, bs := []int{m, k}, []int{k, n}
					if tr[0] {
						as = []int{k, m}
					}
					if tr[1] {
						bs = []int{n, k}
					}
					in := []*tensor.Tensor{nnRandTensor(r, as...), nnRandTensor(r, bs...)}
					if cs != nil {
						in = append(in, nnRandTensor(r, cs...))
					}
					// beta 1 with a row-vector C takes the fused-bias path
					for _, beta := range []float32{1.5, 1} {
						fast := &gemmOp{transA: tr[0], transB: tr[1], alpha: 0.75, beta: beta}
						ref := *fast
						ref.ref = true
						ctx := &Context{Threads: 2}
						got, err := fast.Run(ctx, in)
						if err != nil {
							t.Fatal(err)
						}
						want, err := ref.Run(ctx, in)
						if err != nil {
							t.Fatal(err)
						}
						if err := nnCompare(got[0], want[0], 1e-4, 1e-4); err != nil {
							t.Fatalf("beta %v: %v", beta, err)
						}
					}
				})
			}
		}
	}
}

func TestMatMulFastMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	cases := []struct{ a, b, want []int }{
		{[]int{3, 4}, []int{4, 5}, []int{3, 5}},
		{[]int{4}, []int{4, 5}, []int{5}},
		{[]int{3, 4}, []int{4}, []int{3}},
		{[]int{7}, []int{7}, []int{}},
		{[]int{2, 3, 17, 9}, []int{9, 33}, []int{2, 3, 17, 33}},
		{[]int{2, 1, 3, 4}, []int{5, 4, 2}, []int{2, 5, 3, 2}},
		{[]int{5, 4}, []int{3, 4, 6}, []int{3, 5, 6}},
		{[]int{6, 1, 2}, []int{1, 2, 1023}, []int{6, 1, 1023}},
		{[]int{2, 3, 4}, []int{4}, []int{2, 3}},
	}
	for _, tc := range cases {
		for _, threads := range []int{1, 3} {
			t.Run(fmt.Sprintf("%vx%v/t%d", tc.a, tc.b, threads), func(t *testing.T) {
				in := []*tensor.Tensor{nnRandTensor(r, tc.a...), nnRandTensor(r, tc.b...)}
				ctx := &Context{Threads: threads}
				got, err := (&matMulOp{}).Run(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got[0].Shape) != fmt.Sprint(tc.want) {
					t.Fatalf("shape %v, want %v", got[0].Shape, tc.want)
				}
				want, err := (&matMulOp{ref: true}).Run(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				if err := nnCompare(got[0], want[0], 1e-4, 1e-4); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	if _, err := (&matMulOp{}).Run(nil, []*tensor.Tensor{nnRandTensor(r, 2, 3), nnRandTensor(r, 4, 2)}); err == nil {
		t.Error("MatMul with mismatched inner dims: no error")
	}
}
