package sgemm

import "fmt"

// Activation is an elementwise function applied to C after the product.
type Activation int

const (
	// NoActivation leaves C as computed.
	NoActivation Activation = iota
	// Relu replaces negative values with 0.
	Relu
	// Clip clamps values to [Epilogue.Min, Epilogue.Max].
	Clip
)

// Epilogue is work fused into the GEMM after the last block of k: it is
// applied to each tile of C while the tile is still in cache, in the order
// RowBias, ColBias, activation.
type Epilogue struct {
	RowBias []float32 // nil or len m: RowBias[i] is added to row i (conv bias with weights as A)
	ColBias []float32 // nil or len n: ColBias[j] is added to column j (Gemm/MatMul bias)
	Act     Activation
	Min     float32 // lower bound for Clip
	Max     float32 // upper bound for Clip
}

// Options configures GemmWith.
type Options struct {
	Threads  int       // goroutines to use; below 1 means 1
	Epilogue *Epilogue // nil means none
}

// GemmWith is Gemm with options: a thread count and an epilogue fused into
// the multiply. With a nil Epilogue it is identical to Gemm.
func GemmWith(opts Options, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	check(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if ep := opts.Epilogue; ep != nil {
		if ep.RowBias != nil && len(ep.RowBias) < m {
			panic(fmt.Sprintf("sgemm: RowBias has %d elements, want %d", len(ep.RowBias), m))
		}
		if ep.ColBias != nil && len(ep.ColBias) < n {
			panic(fmt.Sprintf("sgemm: ColBias has %d elements, want %d", len(ep.ColBias), n))
		}
	}
	if m == 0 || n == 0 {
		return
	}
	run(best, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, max(opts.Threads, 1), opts.Epilogue)
}

// apply runs the epilogue on the rows×cols block of C at c, which is at
// (row0, col0) in the whole of C. A nil epilogue does nothing.
func (ep *Epilogue) apply(c []float32, ldc, row0, col0, rows, cols int) {
	if ep == nil || fastEpilogue(ep, c, ldc, row0, col0, rows, cols) {
		return
	}
	ep.applyGo(c, ldc, row0, col0, rows, cols)
}

// applyGo is the portable epilogue, and the reference the vectorised one is
// tested against.
func (ep *Epilogue) applyGo(c []float32, ldc, row0, col0, rows, cols int) {
	for i := range rows {
		ci := c[i*ldc : i*ldc+cols]
		if ep.RowBias != nil {
			bv := ep.RowBias[row0+i]
			for j := range ci {
				ci[j] += bv
			}
		}
		if ep.ColBias != nil {
			cb := ep.ColBias[col0 : col0+cols]
			for j, bv := range cb {
				ci[j] += bv
			}
		}
		switch ep.Act {
		case Relu:
			for j, v := range ci {
				if v < 0 {
					ci[j] = 0
				}
			}
		case Clip:
			for j, v := range ci {
				ci[j] = min(max(v, ep.Min), ep.Max)
			}
		}
	}
}
