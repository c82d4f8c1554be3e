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
	x, err := qFloats(X, "X")
	if err != nil {
		return nil, err
	}
	if op.layout == 1 {
		x = rnnSwap01(x, batch, seq, isz)
	}
	w, err := qFloats(W, "W")
	if err != nil {
		return nil, err
	}
	r, err := qFloats(R, "R")
	if err != nil {
		return nil, err
	}
	var b []float32
	if B := get(3); B != nil {
		if B.Len() != ndir*2*G*H {
			return nil, fmt.Errorf("B %v: want [%d %d]", B.Shape, ndir, 2*G*H)
		}
		if b, err = qFloats(B, "B"); err != nil {
			return nil, err
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
	state := func(i int, what string) ([]float32, error) {
		t := get(i)
		if t == nil {
			return make([]float32, ndir*batch*H), nil
		}
		if t.Len() != ndir*batch*H {
			return nil, fmt.Errorf("%s %v: want %d elements", what, t.Shape, ndir*batch*H)
		}
		v, err := qFloats(t, what)
		if err != nil {
			return nil, err
		}
		if op.layout == 1 {
			return rnnSwap01(v, batch, ndir, H), nil
		}
		return append([]float32(nil), v...), nil
	}
	h, err := state(5, "initial_h")
	if err != nil {
		return nil, err
	}
	var c, p []float32
	if op.kind == rnnKindLSTM {
		if c, err = state(6, "initial_c"); err != nil {
			return nil, err
		}
		if P := get(7); P != nil {
			if P.Len() != ndir*3*H {
				return nil, fmt.Errorf("P %v: want [%d %d]", P.Shape, ndir, 3*H)
			}
			if p, err = qFloats(P, "P"); err != nil {
				return nil, err
			}
		}
	}
	y := make([]float32, seq*ndir*batch*H)
	per := len(op.kind.defaultActs())
	for d := range ndir {
		rd := &rnnDir{
			op: op, G: G, H: H, isz: isz, seq: seq, batch: batch, ndir: ndir, d: d,
			reverse: op.direction == "reverse" || d == 1,
			w:       w[d*G*H*isz : (d+1)*G*H*isz],
			r:       r[d*G*H*H : (d+1)*G*H*H],
			acts:    op.acts[d*per : (d+1)*per],
			h:       h[d*batch*H : (d+1)*batch*H],
		}
		if b != nil {
			rd.wb = b[d*2*G*H : d*2*G*H+G*H]
			rd.rb = b[d*2*G*H+G*H : (d+1)*2*G*H]
		}
		if c != nil {
			rd.c = c[d*batch*H : (d+1)*batch*H]
		}
		if p != nil {
			rd.p = p[d*3*H : (d+1)*3*H]
		}
		rd.run(ctx, x, lens, y)
	}
	var outs []*tensor.Tensor
	mk := func(v []float32, shape ...int) (*tensor.Tensor, error) {
		t := tensor.FromFloat32(v, shape...)
		switch dt {
		case tensor.Float:
			return t, nil
		case tensor.Float16, tensor.BFloat16:
			return f32ToHalf(t, dt), nil
		}
		return fromFloat64s(convSlice[float32, float64](v), dt, shape)
	}
	for i := 0; i < op.nout && i < 3; i++ {
		var t *tensor.Tensor
		switch i {
		case 0:
			if op.layout == 1 {
				// [seq, ndir, batch, H] -> [batch, seq, ndir, H]
				out := make([]float32, len(y))
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

// rnnSwap01 swaps the first two axes of an [a, b, n] array into a new slice.
func rnnSwap01(v []float32, a, b, n int) []float32 {
	out := make([]float32, len(v))
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
	w, r, wb, rb, p                []float32
	acts                           []rnnAct
	h, c                           []float32 // [batch, H], updated in place
}

func (rd *rnnDir) act(i int, v float32) float32 {
	x := float64(v)
	if c := rd.op.clip; c > 0 {
		x = math.Max(-c, math.Min(c, x))
	}
	return float32(rd.acts[i].apply(x))
}

// transposed returns the [rows, cols] matrix m as [cols, rows], so the GEMMs
// below multiply by Wᵀ and Rᵀ without a transposed operand.
func transposed(m []float32, rows, cols int) []float32 {
	out := make([]float32, len(m))
	for i := range rows {
		for j := range cols {
			out[j*rows+i] = m[i*cols+j]
		}
	}
	return out
}

func (rd *rnnDir) run(ctx *Context, x []float32, lens []int, y []float32) {
	G, H, isz, batch := rd.G, rd.H, rd.isz, rd.batch
	GH := G * H
	gru := rd.op.kind == rnnKindGRU
	// The recurrent bias of GRU's candidate gate with linear_before_reset
	// is scaled by the reset gate, so it cannot be folded into the input
	// projection; every other bias can.
	rbInside := gru && rd.op.linearReset
	// xw[t*batch+b] = X_t·Wᵀ + Wb + Rb for every step at once.
	xw := make([]float32, rd.seq*batch*GH)
	if rd.wb != nil {
		bias := make([]float32, GH)
		for g := range GH {
			bias[g] = rd.wb[g]
			if !(rbInside && g >= 2*H) {
				bias[g] += rd.rb[g]
			}
		}
		for i := 0; i < len(xw); i += GH {
			copy(xw[i:i+GH], bias)
		}
	}
	threads := 1
	if ctx != nil && ctx.Threads > 1 {
		threads = ctx.Threads
	}
	nnSgemm(false, false, rd.seq*batch, GH, isz, 1, x, isz, transposed(rd.w, GH, isz), GH, 1, xw, GH, threads)
	rT := transposed(rd.r, GH, H)
	hr := make([]float32, batch*GH)
	var zr, rh, hh []float32
	if gru {
		zr = make([]float32, batch*2*H)
		if !rd.op.linearReset {
			rh = make([]float32, batch*H)
			hh = make([]float32, batch*H)
		}
	}
	rbh := make([]float32, H) // GRU's candidate recurrent bias, zero without B
	if gru && rd.rb != nil {
		copy(rbh, rd.rb[2*H:])
	}
	step := func(bb, s int) int {
		if rd.reverse {
			return lens[bb] - 1 - s
		}
		return s
	}
	for s := range rd.seq {
		// hr = H_{t-1}·Rᵀ for every row; rows whose sequence has ended
		// are computed and ignored.
		nnSgemm(false, false, batch, GH, H, 1, rd.h, H, rT, GH, 0, hr, GH, threads)
		if gru && !rd.op.linearReset {
			// The candidate gate needs (r ⊙ H_{t-1})·Rhᵀ: reset gates first.
			clear(rh)
			for bb := range batch {
				if s >= lens[bb] {
					continue
				}
				t := step(bb, s)
				xr := xw[(t*batch+bb)*GH:][:GH]
				hrr := hr[bb*GH:][:GH]
				for j := range 2 * H {
					zr[bb*2*H+j] = rd.act(0, xr[j]+hrr[j])
				}
				for j := range H {
					rh[bb*H+j] = zr[bb*2*H+H+j] * rd.h[bb*H+j]
				}
			}
			nnSgemm(false, false, batch, H, H, 1, rh, H, rT[2*H:], GH, 0, hh, H, threads)
		}
		for bb := range batch {
			if s >= lens[bb] {
				continue
			}
			t := step(bb, s)
			xr := xw[(t*batch+bb)*GH:][:GH]
			hrr := hr[bb*GH:][:GH]
			hb := rd.h[bb*H:][:H]
			switch rd.op.kind {
			case rnnKindRNN:
				for j := range H {
					hb[j] = rd.act(0, xr[j]+hrr[j])
				}
			case rnnKindGRU:
				for j := range H {
					var z, r, cand float32
					if rd.op.linearReset {
						z = rd.act(0, xr[j]+hrr[j])
						r = rd.act(0, xr[H+j]+hrr[H+j])
						cand = rd.act(1, xr[2*H+j]+r*(hrr[2*H+j]+rbh[j]))
					} else {
						z = zr[bb*2*H+j]
						cand = rd.act(1, xr[2*H+j]+hh[bb*H+j])
					}
					hb[j] = (1-z)*cand + z*hb[j]
				}
			case rnnKindLSTM:
				rd.lstmStep(hb, rd.c[bb*H:][:H], xr, hrr)
			}
			copy(y[((t*rd.ndir+rd.d)*batch+bb)*H:][:H], hb)
		}
	}
}

// lstmStep updates h and c; gate order is i, o, f, c and peepholes i, o, f.
func (rd *rnnDir) lstmStep(h, c, xw, hr []float32) {
	H := rd.H
	for j := range H {
		var pi, po, pf float32
		if rd.p != nil {
			pi, po, pf = rd.p[j], rd.p[H+j], rd.p[2*H+j]
		}
		cPrev := c[j]
		it := rd.act(0, xw[j]+hr[j]+pi*cPrev)
		var ft float32
		if rd.op.inputForget {
			ft = 1 - it
		} else {
			ft = rd.act(0, xw[2*H+j]+hr[2*H+j]+pf*cPrev)
		}
		ct := rd.act(1, xw[3*H+j]+hr[3*H+j])
		cNew := ft*cPrev + it*ct
		ot := rd.act(0, xw[H+j]+hr[H+j]+po*cNew)
		c[j] = cNew
		h[j] = ot * float32(rd.acts[2].apply(float64(cNew)))
	}
}
