package kernels

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"

	"github.com/ptq-dev/ptq/tensor"
)

// guarded returns n float32s that end exactly where an unreadable page
// begins, so a kernel reading one value past its operand faults in the
// test instead of reading a neighbour's memory in production.
func guarded(t *testing.T, n int) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (n*4+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	end := size - page
	f := unsafe.Slice((*float32)(unsafe.Pointer(&mem[end-n*4])), n)
	for i := range f {
		f[i] = float32(i%13) - 6
	}
	return f
}

// TestKernelsStayInBounds runs the vector kernels on operands that end at
// an unreadable page: a read past the end is a crash here.
func TestKernelsStayInBounds(t *testing.T) {
	for n := 1; n <= 49; n++ {
		if nnGatherEven != nil {
			src := guarded(t, 2*n-1)
			d := make([]float32, n)
			nnGatherEven(d, src)
			for i := range d {
				if d[i] != src[2*i] {
					t.Fatalf("gather even, n=%d: d[%d] = %v, want %v", n, i, d[i], src[2*i])
				}
			}
		}
		if nnMaxH3s2 != nil {
			// a row of width 2n+1 has n+1 outputs, n-1 of them interior
			src := guarded(t, 2*n+1)
			d := make([]float32, n+1)
			end := nnMaxH3s2(d, src, 1)
			for o := 1; o < end; o++ {
				if want := max(src[2*o-1], src[2*o], src[2*o+1]); d[o] != want {
					t.Fatalf("max h3s2, n=%d: d[%d] = %v, want %v", n, o, d[o], want)
				}
			}
		}
		if panelGemm != nil {
			const kc = 3
			a := make([]float32, kc*panelMR)
			b := guarded(t, kc*n)
			c := make([]float32, panelMR*n)
			panelGemm(kc, a, b, n, c, n, n, &noBias, panelLo, panelHi)
			panelGemmInd(kc, a, []int{0, n, 2 * n}, 2*n, b, c, n, n, &noBias, panelLo, panelHi)
		}
	}
}

// TestConvStaysInBounds runs convolutions (depthwise, Winograd, implicit
// GEMM, im2col, pooling) whose input ends at an unreadable page.
func TestConvStaysInBounds(t *testing.T) {
	cases := []struct {
		x, w     []int
		group, s int
		pad      int
	}{
		{[]int{1, 4, 7, 7}, []int{4, 1, 3, 3}, 4, 1, 1},
		{[]int{1, 4, 8, 8}, []int{4, 1, 3, 3}, 4, 2, 1},
		{[]int{1, 3, 14, 14}, []int{3, 1, 3, 3}, 3, 1, 1},
		{[]int{1, 3, 17, 33}, []int{3, 1, 3, 3}, 3, 2, 1},
		{[]int{1, 2, 16, 32}, []int{2, 1, 5, 5}, 2, 1, 2},
		{[]int{1, 16, 9, 9}, []int{16, 16, 3, 3}, 1, 1, 1},
		{[]int{1, 16, 18, 18}, []int{16, 16, 3, 3}, 1, 1, 1},
		{[]int{1, 3, 33, 31}, []int{16, 3, 7, 7}, 1, 2, 3},
		{[]int{1, 5, 12, 12}, []int{16, 5, 3, 3}, 1, 1, 0},
		{[]int{1, 5, 12, 12}, []int{8, 5, 3, 3}, 1, 2, 1},
	}
	for i, tc := range cases {
		x := &tensor.Tensor{DType: tensor.Float, Shape: tc.x, Data: guarded(t, tensor.NumElements(tc.x))}
		w := nnRandTensor(rand.New(rand.NewPCG(1, uint64(i))), tc.w...)
		win := nnWindow{strides: []int{tc.s, tc.s}, pads: []int{tc.pad, tc.pad, tc.pad, tc.pad}}
		for _, threads := range []int{1, 2} {
			got, err := (&convOp{win: win, group: tc.group, constW: true}).Run(&Context{Threads: threads}, []*tensor.Tensor{x, w})
			if err != nil {
				t.Fatal(err)
			}
			want, err := (&convOp{win: win, group: tc.group, ref: true}).Run(nil, []*tensor.Tensor{x, w})
			if err != nil {
				t.Fatal(err)
			}
			if err := nnCompare(got[0], want[0], 1e-4, 5e-4); err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
		}
		pool := &poolOp{kind: "MaxPool", win: nnWindow{kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}}}
		if _, err := pool.Run(&Context{Threads: 1}, []*tensor.Tensor{x}); err != nil {
			t.Fatal(err)
		}
	}
}
