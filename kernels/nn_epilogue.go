package kernels

import (
	"fmt"
	"math"
	"slices"

	"github.com/ptq-dev/ptq/tensor"
)

// Elementwise chains fused into a Conv (Options.Fuse, see engine_fuse.go).
//
// A chain is the run of elementwise nodes after a Conv that only the chain
// reads: the affine-plus-HardSwish blocks of PP-OCR (Mul, Add, Add 3,
// Clip 0..6, Mul, Div 6, Mul, Add), ReLU6, a residual Add then Relu. The
// Conv applies the chain to each block of its output while the block is in
// cache, instead of every node reading and writing the whole tensor. Each
// step does the float32 operation the standalone operator does, in the same
// order, so fused and unfused runs agree to the bit.

// epiKind is what one step of a chain computes on the current value x.
type epiKind uint8

const (
	epiAdd  epiKind = iota // x + b
	epiSub                 // x - b
	epiRSub                // b - x
	epiMul                 // x * b
	epiDiv                 // x / b
	epiRDiv                // b / x
	epiRelu
	epiClip        // Clip to [a, b]
	epiSigmoid     // sigmoid32, as the Sigmoid operator
	epiHardSigmoid // max(0, min(1, a*x+b))
	epiHardSwish
	epiLeakyRelu // x < 0: a*x
)

func (k epiKind) binary() bool { return k <= epiRDiv }

// epiArg is where a chain node's input comes from: a chain value (0 the
// Conv's output, i+1 the output of the chain's node i), an input of the
// fused step, or nothing (an absent optional input).
type epiArg struct {
	chain int // -1 when not a chain value
	in    int // -1 when not a step input
}

// epiNode is one node folded into a chain. For a binary node, operand is
// the input that is not the chain's current value.
type epiNode struct {
	op      Op       // the node's own operator, for the unfused fallback
	args    []epiArg // one per node input
	kind    epiKind
	a, b    float32 // Clip bounds, HardSigmoid alpha and beta, LeakyRelu alpha
	operand epiArg
}

// epiMaxSlots bounds how many earlier chain values a chain may keep for
// later steps (the HardSwish diamond keeps one).
const epiMaxSlots = 2

// epiChunk is how many elements a chain processes at a time; kept values
// live in stack arrays of this size.
const epiChunk = 256

// epiOperand is a binary step's second operand, resolved for one run.
type epiOperand struct {
	mode epiMode
	s    float32   // epiModeScalar
	v    []float32 // epiModeChannel: one value per channel; epiModeFull: same shape as the output
	slot int       // epiModeSlot
}

type epiMode uint8

const (
	epiModeScalar epiMode = iota
	epiModeChannel
	epiModeFull
	epiModeSlot
)

// epiStep is a chain node resolved for one run.
type epiStep struct {
	kind epiKind
	a, b float32
	opnd epiOperand
	save int // >= 0: keep the result in this slot
}

// epiProg is a chain bound to one run's operands.
type epiProg struct {
	save0 int // >= 0: keep the Conv's output in this slot
	steps []epiStep
	// vec says every step has a form in the register-resident vector
	// program (runFast): no whole-tensor operand, no Sigmoid or LeakyRelu.
	vec bool
}

// setVec computes p.vec.
func (p *epiProg) setVec() {
	p.vec = true
	for _, s := range p.steps {
		switch {
		case s.kind.binary():
			p.vec = p.vec && s.opnd.mode != epiModeFull
		case s.kind == epiSigmoid || s.kind == epiLeakyRelu:
			p.vec = false
		}
	}
}

// epiChain is a planned chain: its nodes and which chain values later steps
// read again.
type epiChain struct {
	nodes []epiNode
	slot  []int // per chain value, the slot it is kept in or -1
}

// newEpiChain plans the slots of nodes; it fails when more chain values
// must be kept than there are slots.
func newEpiChain(nodes []epiNode) (*epiChain, error) {
	c := &epiChain{nodes: nodes, slot: make([]int, len(nodes)+1)}
	for i := range c.slot {
		c.slot[i] = -1
	}
	used := 0
	for _, n := range nodes {
		for _, a := range []epiArg{n.operand} {
			if !n.kind.binary() || a.chain < 0 || c.slot[a.chain] >= 0 {
				continue
			}
			if used == epiMaxSlots {
				return nil, fmt.Errorf("chain keeps more than %d values", epiMaxSlots)
			}
			c.slot[a.chain] = used
			used++
		}
	}
	return c, nil
}

// bind resolves the chain's operands for an output of the given shape and
// the fused step's inputs. It returns the program for the chain's first k
// nodes: an operand that does not fit the fused form (not float32, or
// broadcast other than a scalar, a per-channel vector or the output's own
// shape) ends the program, and the caller runs the nodes from k on one by
// one. k is 0 when nothing can be fused.
func (c *epiChain) bind(shape []int, in []*tensor.Tensor) (*epiProg, int) {
	p := &epiProg{save0: c.slot[0]}
	for i, n := range c.nodes {
		s := epiStep{kind: n.kind, a: n.a, b: n.b, save: c.slot[i+1]}
		if n.kind.binary() {
			if n.operand.chain >= 0 {
				s.opnd = epiOperand{mode: epiModeSlot, slot: c.slot[n.operand.chain]}
			} else if o, ok := epiBindArg(n.operand, shape, in); ok {
				s.opnd = o
			} else {
				break
			}
		}
		p.steps = append(p.steps, s)
	}
	// The nodes left to run one by one may read no chain value the
	// program keeps to itself.
	k := len(p.steps)
	for k > 0 {
		fits := true
		for _, n := range c.nodes[k:] {
			for _, a := range n.args {
				fits = fits && (a.chain < 0 || a.chain >= k)
			}
		}
		if fits {
			break
		}
		k--
	}
	p.steps = p.steps[:k]
	p.setVec()
	return p, k
}

func epiBindArg(a epiArg, shape []int, in []*tensor.Tensor) (epiOperand, bool) {
	if a.in < 0 || a.in >= len(in) || in[a.in] == nil {
		return epiOperand{}, false
	}
	return epiBindTensor(in[a.in], shape)
}

// epiBindTensor classifies a float32 operand against the output shape.
func epiBindTensor(t *tensor.Tensor, shape []int) (epiOperand, bool) {
	d, ok := t.Data.([]float32)
	if !ok || len(t.Shape) > len(shape) || len(shape) < 2 || len(d) != t.Len() {
		return epiOperand{}, false
	}
	if len(d) == 1 {
		return epiOperand{mode: epiModeScalar, s: d[0]}, true
	}
	if slices.Equal(t.Shape, shape) {
		return epiOperand{mode: epiModeFull, v: d}, true
	}
	// per channel: every dimension 1 but the one aligned with axis 1
	off := len(shape) - len(t.Shape)
	for i, dim := range t.Shape {
		if i+off == 1 {
			if dim != shape[1] {
				return epiOperand{}, false
			}
		} else if dim != 1 {
			return epiOperand{}, false
		}
	}
	if off > 1 {
		return epiOperand{}, false // the operand does not reach axis 1
	}
	return epiOperand{mode: epiModeChannel, v: d}, true
}

// splitAct moves a leading Relu or Clip into act, for the GEMM's vector
// epilogue, when no step needs the value before it.
func (p *epiProg) splitAct() (nnAct, *epiProg) {
	if p == nil || len(p.steps) == 0 || p.save0 >= 0 {
		return nnAct{}, p
	}
	var a nnAct
	switch s := p.steps[0]; s.kind {
	case epiRelu:
		a = nnAct{kind: nnActRelu}
	case epiClip:
		a = nnAct{kind: nnActClip, lo: s.a, hi: s.b}
	default:
		return nnAct{}, p
	}
	if p.steps[0].save >= 0 {
		return nnAct{}, p
	}
	rest := &epiProg{save0: -1, steps: p.steps[1:]}
	if len(rest.steps) == 0 {
		return a, nil
	}
	rest.setVec()
	return a, rest
}

// run applies the chain to y, which holds consecutive outputs of channel ch
// starting at flat index off of the output tensor.
func (p *epiProg) run(y []float32, ch, off int) {
	done := p.runFast(y, ch)
	y, off = y[done:], off+done
	var slots [epiMaxSlots][epiChunk]float32
	for start := 0; start < len(y); start += epiChunk {
		x := y[start:min(start+epiChunk, len(y))]
		n := len(x)
		if p.save0 >= 0 {
			copy(slots[p.save0][:n], x)
		}
		for i := range p.steps {
			s := &p.steps[i]
			if s.kind.binary() {
				switch s.opnd.mode {
				case epiModeScalar:
					vecScalarOp(s.kind, x, s.opnd.s)
				case epiModeChannel:
					vecScalarOp(s.kind, x, s.opnd.v[ch])
				case epiModeFull:
					vecVectorOp(s.kind, x, s.opnd.v[off+start:off+start+n])
				case epiModeSlot:
					vecVectorOp(s.kind, x, slots[s.opnd.slot][:n])
				}
			} else {
				epiUnaryStep(s, x)
			}
			if s.save >= 0 {
				copy(slots[s.save][:n], x)
			}
		}
	}
}

// epiScalarGo sets x[i] = x[i] op b.
func epiScalarGo(k epiKind, x []float32, b float32) {
	switch k {
	case epiAdd:
		for i, v := range x {
			x[i] = v + b
		}
	case epiSub:
		for i, v := range x {
			x[i] = v - b
		}
	case epiRSub:
		for i, v := range x {
			x[i] = b - v
		}
	case epiMul:
		for i, v := range x {
			x[i] = v * b
		}
	case epiDiv:
		for i, v := range x {
			x[i] = v / b
		}
	case epiRDiv:
		for i, v := range x {
			x[i] = b / v
		}
	}
}

// epiVectorGo sets x[i] = x[i] op b[i].
func epiVectorGo(k epiKind, x, b []float32) {
	b = b[:len(x)]
	switch k {
	case epiAdd:
		for i, v := range x {
			x[i] = v + b[i]
		}
	case epiSub:
		for i, v := range x {
			x[i] = v - b[i]
		}
	case epiRSub:
		for i, v := range x {
			x[i] = b[i] - v
		}
	case epiMul:
		for i, v := range x {
			x[i] = v * b[i]
		}
	case epiDiv:
		for i, v := range x {
			x[i] = v / b[i]
		}
	case epiRDiv:
		for i, v := range x {
			x[i] = b[i] / v
		}
	}
}

func epiUnaryStep(s *epiStep, x []float32) {
	switch s.kind {
	case epiRelu:
		vecClamp(x, 0, float32(math.Inf(1)))
	case epiClip:
		vecClamp(x, s.a, s.b)
	case epiSigmoid:
		vecSigmoid32(x, x)
	case epiHardSigmoid:
		vecHardSigmoid(x, s.a, s.b)
	case epiHardSwish:
		vecHardSwish(x)
	case epiLeakyRelu:
		for i, v := range x {
			if v < 0 {
				v *= s.a
			}
			x[i] = v
		}
	}
}

// epiClampGo is Clip's loop: NaN stays NaN.
func epiClampGo(x []float32, lo, hi float32) {
	for i, v := range x {
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		x[i] = v
	}
}

// epiHardSigmoidGo is HardSigmoid's float32 loop.
func epiHardSigmoidGo(x []float32, a, b float32) {
	for i, v := range x {
		x[i] = max(0, min(1, a*v+b))
	}
}

// epiHardSwishGo is HardSwish's float32 loop.
func epiHardSwishGo(x []float32) {
	for i, v := range x {
		x[i] = v * max(0, min(1, v/6+0.5))
	}
}

// sigmoid32 is float32 Sigmoid through nnExp32: within a few ulp of the
// float64 formula and several times faster (the 640×640 probability map
// of PP-OCR det spent 17 ms in math.Exp).
func sigmoid32(x float32) float32 {
	if x >= 0 {
		return 1 / (1 + nnExp32(-x))
	}
	e := nnExp32(x)
	return e / (1 + e)
}

// vecSigmoid32 sets d[i] = sigmoid32(s[i]) with the exponentials computed
// by vecExp32; d may be s.
func vecSigmoid32(d, s []float32) {
	s = s[:len(d)]
	var e [256]float32
	for start := 0; start < len(d); start += len(e) {
		xs := s[start:min(start+len(e), len(s))]
		es := e[:len(xs)]
		for i, v := range xs {
			es[i] = -float32(math.Abs(float64(v)))
		}
		vecExp32(es, es)
		ds := d[start : start+len(xs)]
		for i, v := range xs {
			if v >= 0 {
				ds[i] = 1 / (1 + es[i])
			} else {
				ds[i] = es[i] / (1 + es[i])
			}
		}
	}
}
