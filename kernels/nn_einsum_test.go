package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

func TestEinsum(t *testing.T) {
	cases := []struct {
		eq     string
		shapes [][]int
		want   []int
	}{
		{"ij,jk->ik", [][]int{{3, 4}, {4, 5}}, []int{3, 5}},
		{"ij,jk", [][]int{{3, 4}, {4, 5}}, []int{3, 5}},
		{"bhqd,bhkd->bhqk", [][]int{{2, 3, 5, 4}, {2, 3, 6, 4}}, []int{2, 3, 5, 6}},
		{"...ij,...jk->...ik", [][]int{{2, 1, 3, 4}, {5, 4, 2}}, []int{2, 5, 3, 2}},
		{"ii->i", [][]int{{4, 4}}, []int{4}},
		{"ii", [][]int{{4, 4}}, []int{}},
		{"i,i", [][]int{{7}, {7}}, []int{}},
		{"ij->ji", [][]int{{3, 2}}, []int{2, 3}},
		{"bij,bjk,bkl->bil", [][]int{{2, 3, 4}, {2, 4, 5}, {2, 5, 2}}, []int{2, 3, 2}},
		{"i,j->ij", [][]int{{3}, {4}}, []int{3, 4}},
		{"abc,cd->abd", [][]int{{2, 3, 4}, {4, 6}}, []int{2, 3, 6}},
		{"ab,ba->a", [][]int{{3, 4}, {4, 3}}, []int{3}},
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range cases {
		t.Run(tc.eq, func(t *testing.T) {
			n := &graph.Node{OpType: "Einsum", Attrs: []*onnx.AttributeProto{graph.StringAttr("equation", tc.eq)}}
			op, err := buildEinsum(n, 12)
			if err != nil {
				t.Fatal(err)
			}
			var in []*tensor.Tensor
			for _, s := range tc.shapes {
				in = append(in, nnRandTensor(r, s...))
			}
			ctx := &Context{Threads: 2}
			got, err := op.Run(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got[0].Shape) != len(tc.want) || tensor.NumElements(got[0].Shape) != tensor.NumElements(tc.want) {
				t.Fatalf("shape %v, want %v", got[0].Shape, tc.want)
			}
			ref := *op.(*einsumOp)
			ref.ref = true
			want, err := ref.Run(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if err := nnCompare(got[0], want[0], 1e-5, 1e-5); err != nil {
				t.Fatal(err)
			}
			// independent check of the contraction for the plain matmul
			if tc.eq == "ij,jk->ik" {
				mm, _ := (&matMulOp{ref: true}).Run(ctx, in)
				if err := nnCompare(got[0], mm[0], 1e-5, 1e-5); err != nil {
					t.Fatalf("vs MatMul: %v", err)
				}
			}
		})
	}
}
