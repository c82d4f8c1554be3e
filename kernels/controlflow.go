package kernels

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// This file holds the control-flow operators If, Loop and Scan. Their bodies
// run through Context.RunSubgraph, so the engine keeps the outer scope alive
// and shows the body's tensors to the hook.

func init() {
	register("If", 1, buildIf)
	register("Loop", 1, buildLoop)
	register("Scan", 8, buildScan8)
	register("Scan", 9, buildScan)
}

// cfGraph returns the single graph held by attribute name.
func cfGraph(n *graph.Node, name string) (*graph.Graph, error) {
	gs := n.Subgraphs[name]
	if len(gs) != 1 || gs[0] == nil {
		return nil, fmt.Errorf("attribute %q: want one graph, have %d", name, len(gs))
	}
	return gs[0], nil
}

func buildIf(n *graph.Node, opset int) (Op, error) {
	thenG, err := cfGraph(n, "then_branch")
	if err != nil {
		return nil, err
	}
	elseG, err := cfGraph(n, "else_branch")
	if err != nil {
		return nil, err
	}
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, errors.New("If: missing cond")
		}
		c, err := cfBool(in[0])
		if err != nil {
			return nil, fmt.Errorf("If cond: %w", err)
		}
		g := elseG
		if c {
			g = thenG
		}
		return ctx.RunSubgraph(g, nil)
	}), nil
}

// cfBool reads a one-element bool tensor (a scalar or shape [1]).
func cfBool(t *tensor.Tensor) (bool, error) {
	d, ok := t.Data.([]bool)
	if !ok {
		return false, fmt.Errorf("want bool, got %v", t.DType)
	}
	if len(d) != 1 {
		return false, fmt.Errorf("want one element, got shape %v", t.Shape)
	}
	return d[0], nil
}

// cfInt reads a one-element integer tensor.
func cfInt(t *tensor.Tensor) (int64, error) {
	switch d := t.Data.(type) {
	case []int64:
		if len(d) == 1 {
			return d[0], nil
		}
	case []int32:
		if len(d) == 1 {
			return int64(d[0]), nil
		}
	default:
		return 0, fmt.Errorf("want int64, got %v", t.DType)
	}
	return 0, fmt.Errorf("want one element, got shape %v", t.Shape)
}

func buildLoop(n *graph.Node, opset int) (Op, error) {
	body, err := cfGraph(n, "body")
	if err != nil {
		return nil, err
	}
	nCarried := len(n.Inputs) - 2
	if nCarried < 0 {
		return nil, fmt.Errorf("Loop needs at least 2 inputs (M, cond), has %d", len(n.Inputs))
	}
	if len(body.Inputs) != nCarried+2 {
		return nil, fmt.Errorf("Loop body has %d inputs, want %d (iteration, cond, %d carried)", len(body.Inputs), nCarried+2, nCarried)
	}
	nScan := len(body.Outputs) - 1 - nCarried
	if nScan < 0 {
		return nil, fmt.Errorf("Loop body has %d outputs, want at least %d (cond, %d carried)", len(body.Outputs), 1+nCarried, nCarried)
	}
	// The empty stacked output of a zero-iteration loop needs the element
	// type and, where known, the per-iteration shape of each scan output.
	scanSpecs := make([]ValueSpec, nScan)
	for k := range nScan {
		scanSpecs[k] = engineSpec(body.Outputs[1+nCarried+k])
	}
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		var (
			tripMax int64 = -1
			cond          = true
			hasCond       = len(in) > 1 && in[1] != nil
		)
		if len(in) > 0 && in[0] != nil {
			m, err := cfInt(in[0])
			if err != nil {
				return nil, fmt.Errorf("Loop M: %w", err)
			}
			tripMax = m
		}
		if hasCond {
			c, err := cfBool(in[1])
			if err != nil {
				return nil, fmt.Errorf("Loop cond: %w", err)
			}
			cond = c
		}
		if tripMax < 0 && !hasCond {
			return nil, errors.New("Loop has neither a trip count nor a condition: it would never end")
		}
		carried := make([]*tensor.Tensor, nCarried)
		copy(carried, in[2:])
		scans := make([][]*tensor.Tensor, nScan)
		args := make([]*tensor.Tensor, 2+nCarried)
		for i := int64(0); (tripMax < 0 || i < tripMax) && (!hasCond || cond); i++ {
			args[0] = tensor.FromInt64([]int64{i}) // a scalar: no shape
			args[1] = &tensor.Tensor{DType: tensor.Bool, Data: []bool{cond}}
			copy(args[2:], carried)
			out, err := ctx.RunSubgraph(body, args)
			if err != nil {
				return nil, fmt.Errorf("Loop iteration %d: %w", i, err)
			}
			if len(out) != 1+nCarried+nScan {
				return nil, fmt.Errorf("Loop body returned %d outputs, want %d", len(out), 1+nCarried+nScan)
			}
			if hasCond {
				c, err := cfBool(out[0])
				if err != nil {
					return nil, fmt.Errorf("Loop iteration %d: cond output: %w", i, err)
				}
				cond = c
			}
			copy(carried, out[1:1+nCarried])
			for k := range nScan {
				scans[k] = append(scans[k], out[1+nCarried+k])
			}
		}
		res := make([]*tensor.Tensor, 0, nCarried+nScan)
		res = append(res, carried...)
		for k := range nScan {
			if len(scans[k]) == 0 {
				res = append(res, cfEmptyStack(scanSpecs[k]))
				continue
			}
			st, err := cfStack(ctx, scans[k], 0, false)
			if err != nil {
				return nil, fmt.Errorf("Loop scan output %d: %w", k, err)
			}
			res = append(res, st)
		}
		return res, nil
	}), nil
}

// cfEmptyStack is the result of stacking zero tensors: a leading dimension of
// zero, then the per-iteration shape where the body declares it.
func cfEmptyStack(s ValueSpec) *tensor.Tensor {
	dt := s.DType
	if dt == tensor.Undefined {
		dt = tensor.Float
	}
	shape := []int{0}
	for _, d := range s.Shape {
		shape = append(shape, max(d, 0))
	}
	return tensor.New(dt, shape...)
}

// cfScan is a planned Scan: the body and how its inputs and outputs map to
// the node's.
type cfScan struct {
	body             *graph.Graph
	nState, m, k     int
	inAxes, inDirs   []int64
	outAxes, outDirs []int64
}

func newCFScan(n *graph.Node, stateAndScan int) (*cfScan, error) {
	body, err := cfGraph(n, "body")
	if err != nil {
		return nil, err
	}
	s := &cfScan{body: body, m: int(n.AttrInt("num_scan_inputs", 0))}
	if s.m < 1 {
		return nil, fmt.Errorf("Scan num_scan_inputs is %d, want at least 1", s.m)
	}
	if s.nState = stateAndScan - s.m; s.nState < 0 {
		return nil, fmt.Errorf("Scan has %d state and scan inputs, fewer than num_scan_inputs %d", stateAndScan, s.m)
	}
	if len(body.Inputs) != s.nState+s.m {
		return nil, fmt.Errorf("Scan body has %d inputs, want %d", len(body.Inputs), s.nState+s.m)
	}
	if s.k = len(body.Outputs) - s.nState; s.k < 0 {
		return nil, fmt.Errorf("Scan body has %d outputs, want at least %d", len(body.Outputs), s.nState)
	}
	s.inAxes = cfAttrInts(n, "scan_input_axes", s.m)
	s.inDirs = cfAttrInts(n, "scan_input_directions", s.m)
	s.outAxes = cfAttrInts(n, "scan_output_axes", s.k)
	s.outDirs = cfAttrInts(n, "scan_output_directions", s.k)
	return s, nil
}

func buildScan(n *graph.Node, opset int) (Op, error) {
	s, err := newCFScan(n, len(n.Inputs))
	if err != nil {
		return nil, err
	}
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) != s.nState+s.m {
			return nil, fmt.Errorf("Scan got %d inputs, want %d", len(in), s.nState+s.m)
		}
		return s.run(ctx, in[:s.nState], in[s.nState:])
	}), nil
}

// buildScan8 is opset 8's Scan: every input and output has a leading batch
// axis, the sequence axis is 1, and an optional first input gives each batch
// entry's sequence length. The batch is run entry by entry with opset 9's
// semantics.
func buildScan8(n *graph.Node, opset int) (Op, error) {
	if len(n.Inputs) < 1 {
		return nil, errors.New("Scan needs inputs")
	}
	s, err := newCFScan(n, len(n.Inputs)-1)
	if err != nil {
		return nil, err
	}
	s.inDirs = cfAttrInts(n, "directions", s.m)
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) != 1+s.nState+s.m {
			return nil, fmt.Errorf("Scan got %d inputs, want %d", len(in), 1+s.nState+s.m)
		}
		rest := in[1:]
		for j, t := range rest {
			if t == nil || t.Rank() < 1 {
				return nil, fmt.Errorf("Scan input %d: want a batch axis", j+1)
			}
		}
		batch := rest[0].Shape[0]
		if lens := in[0]; lens != nil {
			steps := rest[s.nState].Shape[1]
			for i := range lens.Len() {
				l, err := cfInt(&tensor.Tensor{DType: lens.DType, Data: cfElem(lens, i)})
				if err != nil {
					return nil, fmt.Errorf("Scan sequence_lens: %w", err)
				}
				if int(l) != steps {
					return nil, fmt.Errorf("Scan sequence_lens[%d] = %d: only full-length sequences (%d) are supported", i, l, steps)
				}
			}
		}
		perBatch := make([][]*tensor.Tensor, s.nState+s.k)
		for b := range batch {
			args := make([]*tensor.Tensor, len(rest))
			for j, t := range rest {
				if t.Shape[0] != batch {
					return nil, fmt.Errorf("Scan input %d: batch %d, want %d", j+1, t.Shape[0], batch)
				}
				args[j] = cfTake(ctx, t, 0, b)
			}
			out, err := s.run(ctx, args[:s.nState], args[s.nState:])
			if err != nil {
				return nil, fmt.Errorf("batch entry %d: %w", b, err)
			}
			for j, t := range out {
				perBatch[j] = append(perBatch[j], t)
			}
		}
		res := make([]*tensor.Tensor, len(perBatch))
		for j, ts := range perBatch {
			st, err := cfStack(ctx, ts, 0, false)
			if err != nil {
				return nil, fmt.Errorf("Scan output %d: %w", j, err)
			}
			res[j] = st
		}
		return res, nil
	}), nil
}

// cfElem returns element i of t's data as a one-element slice.
func cfElem(t *tensor.Tensor, i int) any {
	switch d := t.Data.(type) {
	case []int64:
		return d[i : i+1]
	case []int32:
		return d[i : i+1]
	}
	return nil
}

// run scans once: state holds the initial state variables, scanIn the
// sequences. It returns the final states followed by the stacked outputs.
func (s *cfScan) run(ctx *Context, init, scanIn []*tensor.Tensor) ([]*tensor.Tensor, error) {
	nState, m, k := s.nState, s.m, s.k
	state := append([]*tensor.Tensor(nil), init...)
	axes := make([]int, m)
	steps := -1
	for j, t := range scanIn {
		if t == nil {
			return nil, fmt.Errorf("Scan input %d is missing", nState+j)
		}
		a, err := nnNormAxis(int(s.inAxes[j]), t.Rank())
		if err != nil {
			return nil, fmt.Errorf("Scan input %d: %w", nState+j, err)
		}
		axes[j] = a
		if steps >= 0 && t.Shape[a] != steps {
			return nil, fmt.Errorf("Scan inputs disagree on the sequence length: %d and %d", steps, t.Shape[a])
		}
		steps = t.Shape[a]
	}
	scans := make([][]*tensor.Tensor, k)
	args := make([]*tensor.Tensor, nState+m)
	for it := range steps {
		copy(args, state)
		for j, t := range scanIn {
			idx := it
			if s.inDirs[j] == 1 {
				idx = steps - 1 - it
			}
			args[nState+j] = cfTake(ctx, t, axes[j], idx)
		}
		out, err := ctx.RunSubgraph(s.body, args)
		if err != nil {
			return nil, fmt.Errorf("Scan iteration %d: %w", it, err)
		}
		if len(out) != nState+k {
			return nil, fmt.Errorf("Scan body returned %d outputs, want %d", len(out), nState+k)
		}
		copy(state, out[:nState])
		for j := range k {
			scans[j] = append(scans[j], out[nState+j])
		}
	}
	res := state
	for j := range k {
		if len(scans[j]) == 0 {
			res = append(res, cfEmptyStack(engineSpec(s.body.Outputs[nState+j])))
			continue
		}
		a, err := nnNormAxis(int(s.outAxes[j]), scans[j][0].Rank()+1)
		if err != nil {
			return nil, fmt.Errorf("Scan output %d: %w", nState+j, err)
		}
		st, err := cfStack(ctx, scans[j], a, s.outDirs[j] == 1)
		if err != nil {
			return nil, fmt.Errorf("Scan output %d: %w", nState+j, err)
		}
		res = append(res, st)
	}
	return res, nil
}

// cfAttrInts reads an INTS attribute of length n, zeros when absent.
func cfAttrInts(n *graph.Node, name string, count int) []int64 {
	v := n.AttrInts(name, nil)
	out := make([]int64, count)
	copy(out, v)
	return out
}

// cfTake returns t[..., idx, ...] along axis, dropping that axis.
func cfTake(ctx *Context, t *tensor.Tensor, axis, idx int) *tensor.Tensor {
	shape := append(append([]int(nil), t.Shape[:axis]...), t.Shape[axis+1:]...)
	out := ctx.NewTensor(t.DType, shape...)
	outer := tensor.NumElements(t.Shape[:axis])
	inner := tensor.NumElements(t.Shape[axis+1:])
	n := t.Shape[axis]
	cfCopyBlocks(out.Data, t.Data, outer, inner, func(o int) (int, int) {
		return o * inner, (o*n + idx) * inner
	})
	return out
}

// cfStack stacks same-shaped tensors along a new axis, last first when
// reverse is set.
func cfStack(ctx *Context, ts []*tensor.Tensor, axis int, reverse bool) (*tensor.Tensor, error) {
	first := ts[0]
	for i, t := range ts {
		if t.DType != first.DType || !slices.Equal(t.Shape, first.Shape) {
			return nil, fmt.Errorf("iteration %d produced %v, iteration 0 %v", i, t, first)
		}
	}
	n := len(ts)
	shape := append(append(append([]int(nil), first.Shape[:axis]...), n), first.Shape[axis:]...)
	out := ctx.NewTensor(first.DType, shape...)
	outer := tensor.NumElements(first.Shape[:axis])
	inner := tensor.NumElements(first.Shape[axis:])
	for i, t := range ts {
		pos := i
		if reverse {
			pos = n - 1 - i
		}
		cfCopyBlocks(out.Data, t.Data, outer, inner, func(o int) (int, int) {
			return (o*n + pos) * inner, o * inner
		})
	}
	return out, nil
}

// cfCopyBlocks copies count blocks of size elements; at(o) gives the
// destination and source offsets of block o.
func cfCopyBlocks(dst, src any, count, size int, at func(o int) (int, int)) {
	switch d := dst.(type) {
	case []float32:
		cfCopy(d, src.([]float32), count, size, at)
	case []float64:
		cfCopy(d, src.([]float64), count, size, at)
	case []int64:
		cfCopy(d, src.([]int64), count, size, at)
	case []int32:
		cfCopy(d, src.([]int32), count, size, at)
	case []int16:
		cfCopy(d, src.([]int16), count, size, at)
	case []int8:
		cfCopy(d, src.([]int8), count, size, at)
	case []uint8:
		cfCopy(d, src.([]uint8), count, size, at)
	case []uint16:
		cfCopy(d, src.([]uint16), count, size, at)
	case []uint32:
		cfCopy(d, src.([]uint32), count, size, at)
	case []uint64:
		cfCopy(d, src.([]uint64), count, size, at)
	case []bool:
		cfCopy(d, src.([]bool), count, size, at)
	case []string:
		cfCopy(d, src.([]string), count, size, at)
	case []complex64:
		cfCopy(d, src.([]complex64), count, size, at)
	case []complex128:
		cfCopy(d, src.([]complex128), count, size, at)
	default:
		panic(fmt.Sprintf("kernels: no copy for %T", dst))
	}
}

func cfCopy[T any](dst, src []T, count, size int, at func(o int) (int, int)) {
	for o := range count {
		di, si := at(o)
		copy(dst[di:di+size], src[si:si+size])
	}
}
