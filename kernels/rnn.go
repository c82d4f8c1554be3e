package kernels

import (
	"fmt"
	"math"
	"strings"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// RNN, GRU and LSTM. The three share one driver: the input projection
// X·Wᵀ + biases is computed for every time step up front, then each
// direction walks its sequences step by step, per batch row, so that
// sequence_lens can end rows at different steps. Arithmetic is float64
// whatever the input type; results are converted back on output.

func init() {
	for _, v := range []int{1, 7, 14} {
		register("RNN", v, rnnBuilder(rnnKindRNN))
		register("GRU", v, rnnBuilder(rnnKindGRU))
		register("LSTM", v, rnnBuilder(rnnKindLSTM))
	}
}

type rnnKind int

const (
	rnnKindRNN rnnKind = iota
	rnnKindGRU
	rnnKindLSTM
)

// gates is how many stacked weight blocks W and R hold.
func (k rnnKind) gates() int { return [...]int{1, 3, 4}[k] }

// defaultActs is the activation list of one direction when none is given.
func (k rnnKind) defaultActs() []string {
	return [...][]string{{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}}[k]
}

// rnnAct is one activation function with its alpha and beta.
type rnnAct struct {
	name        string
	alpha, beta float64
}

func (a rnnAct) apply(x float64) float64 {
	switch a.name {
	case "tanh":
		return math.Tanh(x)
	case "sigmoid":
		return rnnSigmoid(x)
	case "relu":
		return math.Max(x, 0)
	case "affine":
		return a.alpha*x + a.beta
	case "leakyrelu":
		if x < 0 {
			return a.alpha * x
		}
		return x
	case "thresholdedrelu":
		if x > a.alpha {
			return x
		}
		return 0
	case "scaledtanh":
		return a.alpha * math.Tanh(a.beta*x)
	case "hardsigmoid":
		return math.Max(0, math.Min(1, a.alpha*x+a.beta))
	case "elu":
		if x < 0 {
			return a.alpha * (math.Exp(x) - 1)
		}
		return x
	case "softsign":
		return x / (1 + math.Abs(x))
	case "softplus":
		return math.Log1p(math.Exp(x))
	}
	return x
}

func rnnSigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// rnnActDefaults holds, per activation, whether it takes alpha and beta and
// their defaults (ONNX's defaults where it has them, ONNX Runtime's otherwise).
var rnnActDefaults = map[string]struct {
	usesAlpha, usesBeta bool
	alpha, beta         float64
}{
	"tanh": {}, "sigmoid": {}, "relu": {}, "softsign": {}, "softplus": {},
	"affine":          {true, true, 1, 0},
	"leakyrelu":       {true, false, 0.01, 0},
	"thresholdedrelu": {true, false, 1, 0},
	"scaledtanh":      {true, true, 1, 1},
	"hardsigmoid":     {true, true, 0.2, 0.5},
	"elu":             {true, false, 1, 0},
}

type rnnOp struct {
	kind        rnnKind
	hidden      int // 0: taken from R
	direction   string
	acts        []rnnAct // nacts per direction, directions concatenated
	clip        float64  // 0: no clipping
	linearReset bool
	inputForget bool
	layout      int
	nout        int
}

func rnnBuilder(kind rnnKind) Builder {
	return func(n *graph.Node, opset int) (Op, error) {
		op := &rnnOp{
			kind:        kind,
			hidden:      int(n.AttrInt("hidden_size", 0)),
			direction:   n.AttrString("direction", "forward"),
			clip:        float64(n.AttrFloat("clip", 0)),
			linearReset: n.AttrInt("linear_before_reset", 0) != 0,
			inputForget: n.AttrInt("input_forget", 0) != 0,
			layout:      int(n.AttrInt("layout", 0)),
			nout:        len(n.Outputs),
		}
		switch op.direction {
		case "forward", "reverse", "bidirectional":
		default:
			return nil, fmt.Errorf("unknown direction %q", op.direction)
		}
		if op.layout != 0 && op.layout != 1 {
			return nil, fmt.Errorf("layout %d: want 0 or 1", op.layout)
		}
		if op.clip < 0 {
			return nil, fmt.Errorf("clip %v: must be positive", op.clip)
		}
		ndir := 1
		if op.direction == "bidirectional" {
			ndir = 2
		}
		per := len(kind.defaultActs())
		names := n.AttrStrings("activations", nil)
		if len(names) == 0 {
			for range ndir {
				names = append(names, kind.defaultActs()...)
			}
		} else if len(names) == per && ndir == 2 {
			names = append(names, names...)
		}
		if len(names) != per*ndir {
			return nil, fmt.Errorf("%d activations, want %d (%d per direction)", len(names), per*ndir, per)
		}
		alphas := n.AttrFloats("activation_alpha", nil)
		betas := n.AttrFloats("activation_beta", nil)
		for _, name := range names {
			key := strings.ToLower(name)
			d, ok := rnnActDefaults[key]
			if !ok {
				return nil, fmt.Errorf("unsupported activation %q", name)
			}
			a := rnnAct{name: key, alpha: d.alpha, beta: d.beta}
			// Alphas and betas are consumed in order by the activations
			// that take them, as ONNX Runtime does.
			if d.usesAlpha && len(alphas) > 0 {
				a.alpha, alphas = float64(alphas[0]), alphas[1:]
			}
			if d.usesBeta && len(betas) > 0 {
				a.beta, betas = float64(betas[0]), betas[1:]
			}
			op.acts = append(op.acts, a)
		}
		return op, nil
	}
}

func (op *rnnOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	get := func(i int) *tensor.Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	X, W, R := get(0), get(1), get(2)
	if X == nil || W == nil || R == nil {
		return nil, fmt.Errorf("X, W and R are required")
	}
	if X.Rank() != 3 || W.Rank() != 3 || R.Rank() != 3 {
		return nil, fmt.Errorf("X %v, W %v, R %v: want rank 3", X.Shape, W.Shape, R.Shape)
	}
	dt := X.DType
	seq, batch, isz := X.Shape[0], X.Shape[1], X.Shape[2]
	if op.layout == 1 {
		seq, batch = batch, seq
	}
	G := op.kind.gates()
	ndir := W.Shape[0]
	H := op.hidden
	if H == 0 {
		H = R.Shape[2]
	}
	wantDir := 1
	if op.direction == "bidirectional" {
		wantDir = 2
	}
	if ndir != wantDir || R.Shape[0] != ndir {
		return nil, fmt.Errorf("direction %q: W %v, R %v have %d directions", op.direction, W.Shape, R.Shape, ndir)
	}
	if W.Shape[1] != G*H || W.Shape[2] != isz {
		return nil, fmt.Errorf("W %v: want [%d %d %d]", W.Shape, ndir, G*H, isz)
	}
	if R.Shape[1] != G*H || R.Shape[2] != H {
		return nil, fmt.Errorf("R %v: want [%d %d %d]", R.Shape, ndir, G*H, H)
	}
	x, err := asFloat64s(X)
	if err != nil {
		return nil, fmt.Errorf("X: %w", err)
	}
	if op.layout == 1 {
		x = rnnSwap01(x, batch, seq, isz)
	}
	w, err := asFloat64s(W)
	if err != nil {
		return nil, fmt.Errorf("W: %w", err)
	}
	r, err := asFloat64s(R)
	if err != nil {
		return nil, fmt.Errorf("R: %w", err)
	}
	var b []float64
	if B := get(3); B != nil {
		if B.Len() != ndir*2*G*H {
			return nil, fmt.Errorf("B %v: want [%d %d]", B.Shape, ndir, 2*G*H)
		}
		if b, err = asFloat64s(B); err != nil {
			return nil, fmt.Errorf("B: %w", err)
		}
	}
	lens := make([]int, batch)
	for i := range lens {
		lens[i] = seq
	}
	if L := get(4); L != nil {
		l, err := asInts(L, "sequence_lens")
		if err != nil {
			return nil, err
		}
		if len(l) != batch {
			return nil, fmt.Errorf("sequence_lens %v: want [%d]", L.Shape, batch)
		}
		for i, v := range l {
			if v < 0 || v > seq {
				return nil, fmt.Errorf("sequence_lens[%d] = %d: out of [0, %d]", i, v, seq)
			}
			lens[i] = v
		}
	}
	// States are kept as [ndir, batch, H] whatever the layout.
	state := func(i int, what string) ([]float64, error) {
		t := get(i)
		if t == nil {
			return make([]float64, ndir*batch*H), nil
		}
		if t.Len() != ndir*batch*H {
			return nil, fmt.Errorf("%s %v: want %d elements", what, t.Shape, ndir*batch*H)
		}
		v, err := asFloat64s(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		v = append([]float64(nil), v...)
		if op.layout == 1 {
			v = rnnSwap01(v, batch, ndir, H)
		}
		return v, nil
	}
	h, err := state(5, "initial_h")
	if err != nil {
		return nil, err
	}
	var c, p []float64
	if op.kind == rnnKindLSTM {
		if c, err = state(6, "initial_c"); err != nil {
			return nil, err
		}
		if P := get(7); P != nil {
			if P.Len() != ndir*3*H {
				return nil, fmt.Errorf("P %v: want [%d %d]", P.Shape, ndir, 3*H)
			}
			if p, err = asFloat64s(P); err != nil {
				return nil, fmt.Errorf("P: %w", err)
			}
		}
	}
	y := make([]float64, seq*ndir*batch*H)
	per := len(op.kind.defaultActs())
	for d := range ndir {
		dirOp := &rnnDir{
			op: op, G: G, H: H, isz: isz, seq: seq, batch: batch, ndir: ndir, d: d,
			reverse: op.direction == "reverse" || d == 1,
			w:       w[d*G*H*isz : (d+1)*G*H*isz],
			r:       r[d*G*H*H : (d+1)*G*H*H],
			acts:    op.acts[d*per : (d+1)*per],
			h:       h[d*batch*H : (d+1)*batch*H],
		}
		if b != nil {
			dirOp.wb = b[d*2*G*H : d*2*G*H+G*H]
			dirOp.rb = b[d*2*G*H+G*H : (d+1)*2*G*H]
		}
		if c != nil {
			dirOp.c = c[d*batch*H : (d+1)*batch*H]
		}
		if p != nil {
			dirOp.p = p[d*3*H : (d+1)*3*H]
		}
		dirOp.run(ctx, x, lens, y)
	}
	var outs []*tensor.Tensor
	mk := func(v []float64, shape ...int) (*tensor.Tensor, error) {
		return fromFloat64s(v, dt, shape)
	}
	for i := 0; i < op.nout && i < 3; i++ {
		var t *tensor.Tensor
		switch i {
		case 0:
			if op.layout == 1 {
				// [seq, ndir, batch, H] -> [batch, seq, ndir, H]
				out := make([]float64, len(y))
				for s := range seq {
					for dd := range ndir {
						for bb := range batch {
							copy(out[((bb*seq+s)*ndir+dd)*H:][:H], y[((s*ndir+dd)*batch+bb)*H:][:H])
						}
					}
				}
				t, err = mk(out, batch, seq, ndir, H)
			} else {
				t, err = mk(y, seq, ndir, batch, H)
			}
		case 1, 2:
			v := h
			if i == 2 {
				if op.kind != rnnKindLSTM {
					continue
				}
				v = c
			}
			if op.layout == 1 {
				t, err = mk(rnnSwap01(v, ndir, batch, H), batch, ndir, H)
			} else {
				t, err = mk(v, ndir, batch, H)
			}
		}
		if err != nil {
			return nil, err
		}
		outs = append(outs, t)
	}
	return outs, nil
}

// rnnSwap01 swaps the first two axes of an [a, b, n] array.
func rnnSwap01(v []float64, a, b, n int) []float64 {
	out := make([]float64, len(v))
	for i := range a {
		for j := range b {
			copy(out[(j*a+i)*n:][:n], v[(i*b+j)*n:][:n])
		}
	}
	return out
}

// rnnDir is one direction of one run.
type rnnDir struct {
	op                             *rnnOp
	G, H, isz, seq, batch, ndir, d int
	reverse                        bool
	w, r, wb, rb, p                []float64
	acts                           []rnnAct
	h, c                           []float64 // [batch, H], updated in place
}

func (rd *rnnDir) clip(v float64) float64 {
	if c := rd.op.clip; c > 0 {
		return math.Max(-c, math.Min(c, v))
	}
	return v
}

func (rd *rnnDir) run(ctx *Context, x []float64, lens []int, y []float64) {
	G, H, isz := rd.G, rd.H, rd.isz
	GH := G * H
	// Batch rows are independent, so they are split across threads.
	ctx.Parallel(rd.batch, 1, func(lo, hi int) {
		xw := make([]float64, GH)
		hr := make([]float64, GH)
		for bb := lo; bb < hi; bb++ {
			hb := rd.h[bb*H : (bb+1)*H]
			var cb []float64
			if rd.c != nil {
				cb = rd.c[bb*H : (bb+1)*H]
			}
			for s := range lens[bb] {
				t := s
				if rd.reverse {
					t = lens[bb] - 1 - s
				}
				xt := x[(t*rd.batch+bb)*isz:][:isz]
				for g := range GH {
					wr := rd.w[g*isz:][:isz]
					acc := 0.0
					for k, v := range xt {
						acc += v * wr[k]
					}
					if rd.wb != nil {
						acc += rd.wb[g]
					}
					xw[g] = acc
					rr := rd.r[g*H:][:H]
					acc = 0
					for k, v := range hb {
						acc += v * rr[k]
					}
					if rd.rb != nil {
						acc += rd.rb[g]
					}
					hr[g] = acc
				}
				switch rd.op.kind {
				case rnnKindRNN:
					for j := range H {
						hb[j] = rd.acts[0].apply(rd.clip(xw[j] + hr[j]))
					}
				case rnnKindGRU:
					rd.gruStep(hb, xw, hr)
				case rnnKindLSTM:
					rd.lstmStep(hb, cb, xw, hr)
				}
				copy(y[((t*rd.ndir+rd.d)*rd.batch+bb)*H:][:H], hb)
			}
		}
	})
}

// gruStep updates h from the gate pre-activations; gate order is z, r, h.
func (rd *rnnDir) gruStep(h, xw, hr []float64) {
	H := rd.H
	f, g := rd.acts[0], rd.acts[1]
	z := make([]float64, H)
	r := make([]float64, H)
	for j := range H {
		z[j] = f.apply(rd.clip(xw[j] + hr[j]))
		r[j] = f.apply(rd.clip(xw[H+j] + hr[H+j]))
	}
	cand := make([]float64, H)
	if rd.op.linearReset {
		for j := range H {
			cand[j] = g.apply(rd.clip(xw[2*H+j] + r[j]*hr[2*H+j]))
		}
	} else {
		// (r ⊙ h)·Rhᵀ must be computed afresh: the reset gate scales h
		// before the recurrent product.
		rh := make([]float64, H)
		for k := range H {
			rh[k] = r[k] * h[k]
		}
		for j := range H {
			rr := rd.r[(2*H+j)*H:][:H]
			acc := 0.0
			for k, v := range rh {
				acc += v * rr[k]
			}
			if rd.rb != nil {
				acc += rd.rb[2*H+j]
			}
			cand[j] = g.apply(rd.clip(xw[2*H+j] + acc))
		}
	}
	for j := range H {
		h[j] = (1-z[j])*cand[j] + z[j]*h[j]
	}
}

// lstmStep updates h and c; gate order is i, o, f, c and peepholes i, o, f.
func (rd *rnnDir) lstmStep(h, c, xw, hr []float64) {
	H := rd.H
	f, g, hh := rd.acts[0], rd.acts[1], rd.acts[2]
	for j := range H {
		pi, po, pf := 0.0, 0.0, 0.0
		if rd.p != nil {
			pi, po, pf = rd.p[j], rd.p[H+j], rd.p[2*H+j]
		}
		cPrev := c[j]
		it := f.apply(rd.clip(xw[j] + hr[j] + pi*cPrev))
		var ft float64
		if rd.op.inputForget {
			ft = 1 - it
		} else {
			ft = f.apply(rd.clip(xw[2*H+j] + hr[2*H+j] + pf*cPrev))
		}
		ct := g.apply(rd.clip(xw[3*H+j] + hr[3*H+j]))
		cNew := ft*cPrev + it*ct
		ot := f.apply(rd.clip(xw[H+j] + hr[H+j] + po*cNew))
		c[j] = cNew
		h[j] = ot * hh.apply(cNew)
	}
}
