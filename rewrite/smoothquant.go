package rewrite

import (
	"fmt"
	"math"
	"sort"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// PassSmoothQuant is the name of the SmoothQuant pass.
const PassSmoothQuant = "smoothquant"

// smoothTarget is a MatMul or Gemm reading an activation on input 0 and a
// constant weight whose rows (K axis) meet the activation's last axis.
type smoothTarget struct {
	n     *graph.Node
	w     []float32
	shape []int
	trans bool // Gemm transB: weight is [N, K]
}

func (t *smoothTarget) eachRow(j int, f func(k int)) {
	k, n := t.shape[0], t.shape[1]
	if t.trans {
		for r := 0; r < k; r++ {
			f(r*n + j)
		}
		return
	}
	for c := 0; c < n; c++ {
		f(j*n + c)
	}
}

func (t *smoothTarget) inDim() int {
	if t.trans {
		return t.shape[1]
	}
	return t.shape[0]
}

func smoothTargetOf(n *graph.Node) *smoothTarget {
	if !isDefault(n) || len(n.Inputs) < 2 || n.Inputs[0] == nil || n.Inputs[0] == n.Inputs[1] {
		return nil
	}
	switch n.OpType {
	case "MatMul":
	case "Gemm":
		if n.AttrInt("transA", 0) != 0 {
			return nil
		}
	default:
		return nil
	}
	w, shape, ok := floatInit(n.Inputs[1])
	if !ok || len(shape) != 2 {
		return nil
	}
	return &smoothTarget{n: n, w: w, shape: shape, trans: n.OpType == "Gemm" && n.AttrInt("transB", 0) != 0}
}

// SmoothQuantInputs returns the names of the activations SmoothQuant can
// smooth: inputs 0 of MatMul and Gemm nodes with a constant 2-D weight
// (read by that node only). Their per-channel max |x| over the last axis is
// what SmoothQuant needs.
func SmoothQuantInputs(m *graph.Model) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range m.Graph.Nodes {
		if t := smoothTargetOf(n); t != nil && !seen[n.Inputs[0].Name] {
			seen[n.Inputs[0].Name] = true
			out = append(out, n.Inputs[0].Name)
		}
	}
	sort.Strings(out)
	return out
}

// SmoothQuant migrates the quantization difficulty of activation outliers
// into the weights (Xiao et al. 2023): for each activation x read by
// MatMul/Gemm nodes with constant weights, channel j is divided by
//
//	s_j = max|x_j|^alpha / max|W_j|^(1-alpha)
//
// and row j of each weight multiplied by it, so the product is unchanged.
// absMax holds max|x_j| per activation name (from calibration). The
// division folds into the scale and bias of a preceding
// LayerNormalization, or into a preceding Mul by a constant (and the Add of
// a constant after it, as decomposed LayerNorms have); otherwise an
// explicit Mul by 1/s is inserted before the MatMuls.
func SmoothQuant(m *graph.Model, alpha float64, absMax map[string][]float32) error {
	if !(alpha >= 0 && alpha <= 1) {
		return fmt.Errorf("smoothquant: alpha %g, want 0..1", alpha)
	}
	g := m.Graph
	byInput := map[*graph.Value][]*smoothTarget{}
	var order []*graph.Value
	for _, n := range g.Nodes {
		t := smoothTargetOf(n)
		if t == nil {
			continue
		}
		x := n.Inputs[0]
		if byInput[x] == nil {
			order = append(order, x)
		}
		byInput[x] = append(byInput[x], t)
	}
	for _, x := range order {
		amax, ok := absMax[x.Name]
		if !ok {
			continue
		}
		ts := byInput[x]
		d := len(amax)
		for _, t := range ts {
			if t.inDim() != d {
				return fmt.Errorf("smoothquant: %s: weight has %d input rows, activation %q has %d channels", t.n.Name, t.inDim(), x.Name, d)
			}
		}
		s := make([]float32, d)
		for j := range s {
			wmax := 0.0
			for _, t := range ts {
				t.eachRow(j, func(k int) { wmax = max(wmax, math.Abs(float64(t.w[k]))) })
			}
			a := float64(amax[j])
			v := 1.0
			if a > 0 && wmax > 0 {
				v = math.Pow(a, alpha) / math.Pow(wmax, 1-alpha)
				v = min(max(v, 1e-5), 1e5)
			}
			s[j] = float32(v)
		}
		if err := smoothDivide(g, x, ts, s); err != nil {
			return fmt.Errorf("smoothquant %q: %w", x.Name, err)
		}
		for _, t := range ts {
			for j := range s {
				t.eachRow(j, func(k int) { t.w[k] *= s[j] })
			}
			if err := setFloat(g, t.n.Inputs[1], t.w, t.shape); err != nil {
				return err
			}
		}
	}
	return nil
}

// smoothDivide makes the targets read x/s: by folding 1/s into x's
// producer when nothing else reads x, by an explicit Mul otherwise.
func smoothDivide(g *graph.Graph, x *graph.Value, ts []*smoothTarget, s []float32) error {
	inv := make([]float32, len(s))
	for i, v := range s {
		inv[i] = 1 / v
	}
	if len(x.Consumers) == len(ts) && !g.IsOutput(x) && foldInverse(g, x, inv) {
		return nil
	}
	tp, err := onnxio.FromTensor("", tensor.FromFloat32(inv, len(inv)))
	if err != nil {
		return err
	}
	c := g.AddInitializer(x.Name+"_smooth_scale", tp)
	mul := g.AddNode("Mul", "", []*graph.Value{x, c}, []string{x.Name + "_smoothed"})
	for _, t := range ts {
		t.n.SetInput(0, mul.Outputs[0])
	}
	return nil
}

// foldInverse multiplies x's producer's per-channel constants by inv, when
// the producer is LayerNormalization over the last axis, or a Mul by a
// constant vector (optionally followed by the Add of one), and reports
// whether it did.
func foldInverse(g *graph.Graph, x *graph.Value, inv []float32) bool {
	p := x.Producer
	if p == nil || !isDefault(p) {
		return false
	}
	// vec returns the input of n (other than skip) that is a constant with
	// len(inv) values along the last axis only, read by n alone.
	vec := func(n *graph.Node, i int) *graph.Value {
		if i >= len(n.Inputs) || n.Inputs[i] == nil {
			return nil
		}
		data, shape, ok := floatInit(n.Inputs[i])
		if !ok || len(data) != len(inv) || len(shape) == 0 || shape[len(shape)-1] != len(inv) {
			return nil
		}
		return n.Inputs[i]
	}
	scale := func(vs ...*graph.Value) bool {
		for _, v := range vs {
			data, shape, _ := floatInit(v)
			for i := range data {
				data[i] *= inv[i]
			}
			if err := setFloat(g, v, data, shape); err != nil {
				return false
			}
		}
		return true
	}
	// constOf returns the constant operand of a binary Mul/Add and the
	// other operand.
	constOf := func(n *graph.Node) (c, other *graph.Value) {
		if len(n.Inputs) != 2 {
			return nil, nil
		}
		if c := vec(n, 1); c != nil && n.Inputs[0].Initializer == nil {
			return c, n.Inputs[0]
		}
		if c := vec(n, 0); c != nil && n.Inputs[1].Initializer == nil {
			return c, n.Inputs[1]
		}
		return nil, nil
	}
	switch p.OpType {
	case "LayerNormalization":
		if ax := p.AttrInt("axis", -1); ax != -1 {
			if r := declaredRank(x); r < 0 || int(ax) != r-1 {
				return false
			}
		}
		sc := vec(p, 1)
		if sc == nil {
			return false
		}
		if len(p.Inputs) > 2 && p.Inputs[2] != nil {
			b := vec(p, 2)
			if b == nil {
				return false
			}
			return scale(sc, b)
		}
		return scale(sc)
	case "Mul":
		if c, _ := constOf(p); c != nil {
			return scale(c)
		}
	case "Add":
		beta, y := constOf(p)
		if beta == nil || y.Producer == nil || len(y.Consumers) != 1 || g.IsOutput(y) || y.Producer.OpType != "Mul" || !isDefault(y.Producer) {
			return false
		}
		if gamma, _ := constOf(y.Producer); gamma != nil {
			return scale(gamma, beta)
		}
	}
	return false
}

// declaredRank is the rank of v's declared type, or -1.
func declaredRank(v *graph.Value) int {
	tt := v.Type.GetTensorType()
	if tt == nil || tt.Shape == nil {
		return -1
	}
	return len(tt.Shape.Dim)
}
