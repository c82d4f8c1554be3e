package kernels

import (
	"fmt"
	"slices"

	"github.com/ptq-dev/ptq/tensor"
)

// This file holds numpy-style (multidirectional) broadcasting for the
// elementwise operators. Binary operators dominate transformer run time, so
// the driver reduces every broadcast to rows of one of three contiguous
// kinds (vector-vector, vector-scalar, scalar-vector) and calls a slice
// kernel per row: no per-element index arithmetic, allocation or interface
// call.

// elemNum is every numeric element type with native Go arithmetic.
type elemNum interface {
	~float32 | ~float64 | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// elemInt is the integer element types.
type elemInt interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// elemGrain is the number of elements below which a loop stays on one
// goroutine.
const elemGrain = 1 << 15

// bcastShape is the broadcast of the given shapes, or an error naming them
// when two dimensions are neither equal nor 1.
func bcastShape(shapes ...[]int) ([]int, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]int, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := r - len(s)
		for i, d := range s {
			o := &out[off+i]
			switch {
			case d == *o || d == 1:
			case *o == 1:
				*o = d
			default:
				return nil, fmt.Errorf("shapes %v cannot be broadcast together", shapes)
			}
		}
	}
	return out, nil
}

// bcastStrides returns the element strides of a tensor of shape s read as
// broadcast to out: 0 along broadcast dimensions.
func bcastStrides(s, out []int) []int {
	st := make([]int, len(out))
	off := len(out) - len(s)
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 1 {
			st[off+i] = acc
		}
		acc *= s[i]
	}
	return st
}

// binLoops are the row kernels of a binary operator. In vs the second
// operand is b[0]; in sv the first is a[0].
type binLoops[T, R any] struct {
	vv func(d []R, a, b []T)
	vs func(d []R, a []T, b T)
	sv func(d []R, a T, b []T)
}

// loopsOf builds row kernels from a scalar function. The function is called
// directly (not through an interface) once per element; the hot operators
// have hand-written loops instead.
func loopsOf[T, R any](f func(a, b T) R) *binLoops[T, R] {
	return &binLoops[T, R]{
		vv: func(d []R, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] = f(a[i], b[i])
			}
		},
		vs: func(d []R, a []T, b T) {
			a = a[:len(d)]
			for i := range d {
				d[i] = f(a[i], b)
			}
		},
		sv: func(d []R, a T, b []T) {
			b = b[:len(d)]
			for i := range d {
				d[i] = f(a, b[i])
			}
		},
	}
}

// bcastPlan describes a broadcast binary loop after collapsing dimensions:
// outer dims iterate rows; each row of length inner is of one kind.
type bcastPlan struct {
	outer          []int // sizes of the outer (row) dimensions
	sa, sb         []int // strides of a and b along the outer dimensions
	inner          int
	kind           int // 0 vv, 1 vs (b broadcast along the row), 2 sv
	innerA, innerB int // strides along the row (1 or 0)
}

// planBroadcast collapses the broadcast of shapes as and bs into out into
// rows. Adjacent dimensions merge when both operands broadcast (or not)
// along both of them alike.
func planBroadcast(as, bs, out []int) bcastPlan {
	r := len(out)
	sta, stb := bcastStrides(as, out), bcastStrides(bs, out)
	type dim struct{ n, a, b int }
	var dims []dim
	for i := 0; i < r; i++ {
		if out[i] == 1 {
			continue
		}
		d := dim{out[i], sta[i], stb[i]}
		if k := len(dims) - 1; k >= 0 {
			p := dims[k]
			// contiguous merge: the previous stride equals this stride*n (or both 0)
			if (p.a == 0) == (d.a == 0) && (p.b == 0) == (d.b == 0) &&
				(p.a == 0 || p.a == d.a*d.n) && (p.b == 0 || p.b == d.b*d.n) {
				dims[k] = dim{p.n * d.n, d.a, d.b}
				continue
			}
		}
		dims = append(dims, d)
	}
	var p bcastPlan
	if len(dims) == 0 {
		p.inner, p.innerA, p.innerB = 1, 1, 1
		return p
	}
	last := dims[len(dims)-1]
	p.inner = last.n
	p.innerA, p.innerB = last.a, last.b
	switch {
	case last.a != 0 && last.b != 0:
		p.kind = 0
	case last.b == 0:
		p.kind = 1
	default:
		p.kind = 2
	}
	for _, d := range dims[:len(dims)-1] {
		p.outer = append(p.outer, d.n)
		p.sa = append(p.sa, d.a)
		p.sb = append(p.sb, d.b)
	}
	return p
}

// binApply computes d = op(a, b) with broadcasting; d has shape out.
func binApply[T, R any](ctx *Context, d []R, a []T, as []int, b []T, bs []int, out []int, l *binLoops[T, R]) {
	n := len(d)
	if n == 0 {
		return
	}
	switch {
	case slices.Equal(as, bs) || (len(a) == n && len(b) == n):
		ctx.Parallel(n, elemGrain, func(lo, hi int) { l.vv(d[lo:hi], a[lo:hi], b[lo:hi]) })
		return
	case len(b) == 1 && len(a) == n:
		bv := b[0]
		ctx.Parallel(n, elemGrain, func(lo, hi int) { l.vs(d[lo:hi], a[lo:hi], bv) })
		return
	case len(a) == 1 && len(b) == n:
		av := a[0]
		ctx.Parallel(n, elemGrain, func(lo, hi int) { l.sv(d[lo:hi], av, b[lo:hi]) })
		return
	}
	p := planBroadcast(as, bs, out)
	rows := n / p.inner
	grain := max(1, elemGrain/p.inner)
	ctx.Parallel(rows, grain, func(lo, hi int) {
		// decompose the first row index into outer coordinates
		idx := make([]int, len(p.outer))
		oa, ob := 0, 0
		rem := lo
		for k := len(p.outer) - 1; k >= 0; k-- {
			idx[k] = rem % p.outer[k]
			rem /= p.outer[k]
			oa += idx[k] * p.sa[k]
			ob += idx[k] * p.sb[k]
		}
		L := p.inner
		for row := lo; row < hi; row++ {
			dr := d[row*L : row*L+L]
			switch p.kind {
			case 0:
				l.vv(dr, a[oa:oa+L], b[ob:ob+L])
			case 1:
				l.vs(dr, a[oa:oa+L], b[ob])
			default:
				l.sv(dr, a[oa], b[ob:ob+L])
			}
			for k := len(p.outer) - 1; k >= 0; k-- {
				idx[k]++
				oa += p.sa[k]
				ob += p.sb[k]
				if idx[k] < p.outer[k] {
					break
				}
				oa -= p.sa[k] * p.outer[k]
				ob -= p.sb[k] * p.outer[k]
				idx[k] = 0
			}
		}
	})
}

// bcastIndex maps every output element to its source offset in a tensor of
// shape s broadcast to out. It is the slow general path used by Where,
// Expand and the other operators that are rarely hot.
func bcastIndex(s, out []int) []int {
	n := tensor.NumElements(out)
	st := bcastStrides(s, out)
	idx := make([]int, n)
	if n == 0 {
		return idx
	}
	r := len(out)
	c := make([]int, r)
	off := 0
	for i := 0; i < n; i++ {
		idx[i] = off
		for k := r - 1; k >= 0; k-- {
			c[k]++
			off += st[k]
			if c[k] < out[k] {
				break
			}
			off -= st[k] * out[k]
			c[k] = 0
		}
	}
	return idx
}

// rowPlan is planBroadcast for any number of operands: the output is cut
// into rows of inner elements; along a row each operand advances by
// innerStride (1, or 0 when it is broadcast).
type rowPlan struct {
	outer       []int   // sizes of the outer dimensions
	st          [][]int // per operand, strides along the outer dimensions
	inner       int
	innerStride []int
}

func planRows(shapes [][]int, out []int) rowPlan {
	m := len(shapes)
	sts := make([][]int, m)
	for k, s := range shapes {
		sts[k] = bcastStrides(s, out)
	}
	type dim struct {
		n  int
		st []int
	}
	var dims []dim
	for i, n := range out {
		if n == 1 {
			continue
		}
		d := dim{n, make([]int, m)}
		for k := range m {
			d.st[k] = sts[k][i]
		}
		if j := len(dims) - 1; j >= 0 {
			p := dims[j]
			ok := true
			for k := range m {
				if (p.st[k] == 0) != (d.st[k] == 0) || (p.st[k] != 0 && p.st[k] != d.st[k]*d.n) {
					ok = false
					break
				}
			}
			if ok {
				dims[j] = dim{p.n * d.n, d.st}
				continue
			}
		}
		dims = append(dims, d)
	}
	p := rowPlan{st: make([][]int, m), inner: 1, innerStride: make([]int, m)}
	if len(dims) == 0 {
		return p
	}
	last := dims[len(dims)-1]
	p.inner = last.n
	copy(p.innerStride, last.st)
	for _, d := range dims[:len(dims)-1] {
		p.outer = append(p.outer, d.n)
		for k := range m {
			p.st[k] = append(p.st[k], d.st[k])
		}
	}
	return p
}

// each calls f for rows [lo, hi) with each operand's offset at the row start
// (offs is reused between calls).
func (p *rowPlan) each(lo, hi int, f func(row int, offs []int)) {
	m := len(p.st)
	idx := make([]int, len(p.outer))
	offs := make([]int, m)
	rem := lo
	for j := len(p.outer) - 1; j >= 0; j-- {
		idx[j] = rem % p.outer[j]
		rem /= p.outer[j]
		for k := range m {
			offs[k] += idx[j] * p.st[k][j]
		}
	}
	for row := lo; row < hi; row++ {
		f(row, offs)
		for j := len(p.outer) - 1; j >= 0; j-- {
			idx[j]++
			for k := range m {
				offs[k] += p.st[k][j]
			}
			if idx[j] < p.outer[j] {
				break
			}
			for k := range m {
				offs[k] -= p.st[k][j] * p.outer[j]
			}
			idx[j] = 0
		}
	}
}
