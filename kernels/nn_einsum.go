package kernels

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("Einsum", 12, buildEinsum)
}

// einsumOp is Einsum. The equation is parsed once into labels; ellipsis
// dimensions become labels 0..E-1 at run time once the ranks are known.
type einsumOp struct {
	equation string
	inputs   []string // terms, "..." kept as is
	output   string
	explicit bool
	ref      bool // force the generic loop (tests)
}

func buildEinsum(n *graph.Node, opset int) (Op, error) {
	eq := strings.ReplaceAll(n.AttrString("equation", ""), " ", "")
	if eq == "" {
		return nil, fmt.Errorf("Einsum: missing equation")
	}
	o := &einsumOp{equation: eq}
	lhs := eq
	if i := strings.Index(eq, "->"); i >= 0 {
		lhs, o.output, o.explicit = eq[:i], eq[i+2:], true
	}
	o.inputs = strings.Split(lhs, ",")
	for _, t := range append(append([]string(nil), o.inputs...), o.output) {
		rest := strings.Replace(t, "...", "", 1)
		for _, c := range rest {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return nil, fmt.Errorf("Einsum: bad term %q in %q", t, eq)
			}
		}
	}
	return o, nil
}

// einsumPlan is the equation resolved against concrete shapes: every
// input's dims as labels, the size of each label, and the output labels.
type einsumPlan struct {
	in     [][]int // labels per input dim
	size   []int   // per label
	out    []int   // output labels
	summed []int   // labels not in the output
}

func (o *einsumOp) resolve(shapes [][]int) (*einsumPlan, error) {
	if len(shapes) != len(o.inputs) {
		return nil, fmt.Errorf("Einsum: equation %q has %d operands, got %d inputs", o.equation, len(o.inputs), len(shapes))
	}
	// ellipsis rank
	ell := 0
	for i, t := range o.inputs {
		letters := len(strings.Replace(t, "...", "", 1))
		if strings.Contains(t, "...") {
			if len(shapes[i]) < letters {
				return nil, fmt.Errorf("Einsum: operand %d of rank %d too small for %q", i, len(shapes[i]), t)
			}
			ell = max(ell, len(shapes[i])-letters)
		} else if letters != len(shapes[i]) {
			return nil, fmt.Errorf("Einsum: operand %d has rank %d, term %q wants %d", i, len(shapes[i]), t, letters)
		}
	}
	letter := func(c byte) int { return ell + int(c) }
	p := &einsumPlan{size: make([]int, ell+256)}
	for i := range p.size {
		p.size[i] = -1
	}
	parse := func(t string, rank int) []int {
		var ls []int
		for j := 0; j < len(t); j++ {
			if strings.HasPrefix(t[j:], "...") {
				e := rank - (len(t) - 3)
				for k := ell - e; k < ell; k++ {
					ls = append(ls, k)
				}
				j += 2
				continue
			}
			ls = append(ls, letter(t[j]))
		}
		return ls
	}
	count := map[int]int{}
	for i, t := range o.inputs {
		ls := parse(t, len(shapes[i]))
		for j, l := range ls {
			d := shapes[i][j]
			switch {
			case p.size[l] == -1 || p.size[l] == 1:
				p.size[l] = d
			case d != p.size[l] && d != 1:
				return nil, fmt.Errorf("Einsum: label size mismatch %d vs %d in %q", d, p.size[l], o.equation)
			}
			count[l]++
		}
		p.in = append(p.in, ls)
	}
	if o.explicit {
		p.out = parse(o.output, ell+len(o.output)-3)
		if !strings.Contains(o.output, "...") {
			p.out = parse(o.output, len(o.output))
		}
		for _, l := range p.out {
			if l >= ell && count[l] == 0 {
				return nil, fmt.Errorf("Einsum: output label %q not in any input", rune(l-ell))
			}
		}
	} else {
		for k := range ell {
			p.out = append(p.out, k)
		}
		var ls []int
		for l, c := range count {
			if l >= ell && c == 1 {
				ls = append(ls, l)
			}
		}
		sort.Ints(ls)
		p.out = append(p.out, ls...)
	}
	inOut := map[int]bool{}
	for _, l := range p.out {
		inOut[l] = true
	}
	for l := range count {
		if !inOut[l] {
			p.summed = append(p.summed, l)
		}
	}
	sort.Ints(p.summed)
	for l, s := range p.size {
		if s == -1 {
			p.size[l] = 1
		}
	}
	return p, nil
}

func (o *einsumOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("Einsum: no inputs")
	}
	shapes := make([][]int, len(in))
	for i, t := range in {
		if err := nnCheckFloat(t, fmt.Sprintf("Einsum input %d", i)); err != nil {
			return nil, err
		}
		if t.DType != in[0].DType {
			return nil, fmt.Errorf("Einsum: inputs of mixed types %v and %v", in[0].DType, t.DType)
		}
		shapes[i] = t.Shape
	}
	p, err := o.resolve(shapes)
	if err != nil {
		return nil, err
	}
	if in[0].DType == tensor.Double {
		return einsumRun[float64](o, ctx, p, in)
	}
	return einsumRun[float32](o, ctx, p, in)
}

func einsumRun[T nnFloat](o *einsumOp, ctx *Context, p *einsumPlan, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	oshape := make([]int, len(p.out))
	for i, l := range p.out {
		oshape[i] = p.size[l]
	}
	if !o.ref && len(in) == 2 {
		if y, ok := einsumMatMul[T](ctx, p, in, oshape); ok {
			return []*tensor.Tensor{y}, nil
		}
	}
	y := ctx.NewTensor(in[0].DType, oshape...)
	yd := y.Data.([]T)
	data := make([][]T, len(in))
	// stride of each label in each input (summed over repeated labels,
	// which walks the diagonal; 0 where the dim is broadcast)
	strides := make([][]int, len(in))
	for i, t := range in {
		data[i] = t.Data.([]T)
		strides[i] = make([]int, len(p.size))
		s := 1
		for j := len(t.Shape) - 1; j >= 0; j-- {
			if t.Shape[j] != 1 {
				strides[i][p.in[i][j]] += s
			}
			s *= t.Shape[j]
		}
	}
	outVol := len(yd)
	sumVol := 1
	for _, l := range p.summed {
		sumVol *= p.size[l]
	}
	ctx.Parallel(outVol, max(1, 1024/max(sumVol, 1)), func(lo, hi int) {
		base := make([]int, len(in))
		off := make([]int, len(in))
		sidx := make([]int, len(p.summed))
		for e := lo; e < hi; e++ {
			// output index -> base offsets
			rem := e
			clear(base)
			for k := len(p.out) - 1; k >= 0; k-- {
				l := p.out[k]
				v := rem % p.size[l]
				rem /= p.size[l]
				for i := range in {
					base[i] += v * strides[i][l]
				}
			}
			copy(off, base)
			clear(sidx)
			var acc float64
			for range sumVol {
				prod := T(1)
				for i := range in {
					prod *= data[i][off[i]]
				}
				acc += float64(prod)
				for k := len(p.summed) - 1; k >= 0; k-- {
					l := p.summed[k]
					sidx[k]++
					for i := range in {
						off[i] += strides[i][l]
					}
					if sidx[k] < p.size[l] {
						break
					}
					for i := range in {
						off[i] -= strides[i][l] * p.size[l]
					}
					sidx[k] = 0
				}
			}
			yd[e] = T(acc)
		}
	})
	return []*tensor.Tensor{y}, nil
}

// einsumMatMul handles two operands whose labels are each either shared
// batch, contracted, or owned by one operand and kept: it transposes both to
// [batch, rows, k] and [batch, k, cols], runs batched GEMMs and transposes
// the result to the output order. ok is false when the equation does not fit.
func einsumMatMul[T nnFloat](ctx *Context, p *einsumPlan, in []*tensor.Tensor, oshape []int) (*tensor.Tensor, bool) {
	inA, inB, inOut := map[int]bool{}, map[int]bool{}, map[int]bool{}
	for j, l := range p.in[0] {
		if inA[l] || in[0].Shape[j] != p.size[l] {
			return nil, false // repeated label (diagonal) or broadcast dim
		}
		inA[l] = true
	}
	for j, l := range p.in[1] {
		if inB[l] || in[1].Shape[j] != p.size[l] {
			return nil, false
		}
		inB[l] = true
	}
	for _, l := range p.out {
		inOut[l] = true
	}
	var batch, rows, cols, red []int
	for _, l := range p.in[0] {
		switch {
		case inB[l] && inOut[l]:
			batch = append(batch, l)
		case inB[l]:
			red = append(red, l)
		case inOut[l]:
			rows = append(rows, l)
		default:
			return nil, false // summed over one operand only
		}
	}
	for _, l := range p.in[1] {
		if !inA[l] {
			if !inOut[l] {
				return nil, false
			}
			cols = append(cols, l)
		}
	}
	vol := func(ls []int) int {
		v := 1
		for _, l := range ls {
			v *= p.size[l]
		}
		return v
	}
	nb, m, n, k := vol(batch), vol(rows), vol(cols), vol(red)
	a := einsumPermute[T](in[0], p.in[0], concatInts(batch, rows, red), p.size)
	b := einsumPermute[T](in[1], p.in[1], concatInts(batch, red, cols), p.size)
	c := make([]T, nb*m*n)
	ctx.Parallel(nb, 1, func(lo, hi int) {
		threads := 1
		if nb == 1 {
			threads = nnThreads(ctx)
		}
		for t := lo; t < hi; t++ {
			nnGemm(false, false, m, n, k, 1, a[t*m*k:], k, b[t*k*n:], n, 0, c[t*m*n:], n, threads)
		}
	})
	ct := &tensor.Tensor{DType: in[0].DType, Data: c}
	for _, l := range concatInts(batch, rows, cols) {
		ct.Shape = append(ct.Shape, p.size[l])
	}
	yd := einsumPermute[T](ct, concatInts(batch, rows, cols), p.out, p.size)
	y := ctx.NewTensor(in[0].DType, oshape...)
	copy(y.Data.([]T), yd)
	return y, true
}

func concatInts(parts ...[]int) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// einsumPermute reorders t (dims labelled from) into the label order to.
func einsumPermute[T nnFloat](t *tensor.Tensor, from, to []int, size []int) []T {
	src := t.Data.([]T)
	if slices.Equal(from, to) {
		return src
	}
	stride := map[int]int{}
	s := 1
	for j := len(from) - 1; j >= 0; j-- {
		stride[from[j]] = s
		s *= t.Shape[j]
	}
	dst := make([]T, len(src))
	idx := make([]int, len(to))
	off := 0
	for i := range dst {
		dst[i] = src[off]
		for j := len(to) - 1; j >= 0; j-- {
			l := to[j]
			idx[j]++
			off += stride[l]
			if idx[j] < size[l] {
				break
			}
			off -= stride[l] * size[l]
			idx[j] = 0
		}
	}
	return dst
}
