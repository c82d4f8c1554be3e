// Package sgemm is a single-precision general matrix multiply for row-major
// matrices with BLAS semantics:
//
//	C = alpha*op(A)*op(B) + beta*C
//
// where op(X) is X or its transpose, op(A) is m×k, op(B) is k×n and C is m×n.
// As in BLAS, when beta is zero C is only written, never read, so NaNs or
// garbage already in C do not reach the result.
//
// The fast path packs panels of A and B into contiguous buffers, blocks them
// for the caches and runs a register-tiled micro-kernel: AVX-512 or AVX2+FMA
// assembly chosen at run time on amd64, a pure-Go kernel elsewhere and under
// the purego build tag.
package sgemm
