package rewrite

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// PassCLE is the name of the cross-layer equalization pass.
const PassCLE = "cle"

// cleIterations bounds the sweeps over the pairs: a layer in the middle of
// a chain is the second layer of one pair and the first of the next, so
// one sweep unbalances what the previous pair balanced; a few sweeps
// converge (Nagel et al. 2019, section 4.1).
const cleIterations = 8

// CLEOptions holds what CrossLayerEqualization may use beyond the weights.
type CLEOptions struct {
	// ClipInputMax holds, for the tensor entering each Clip that joins a
	// pair (named by CLEClipInputs), the largest value of each channel
	// (axis 1) seen on the calibration data. A pair joined by a Clip is
	// equalized only when its entry is here.
	ClipInputMax map[string][]float32
	// Select, when set, says which of the pairs to equalize (all when nil).
	Select func(CLEPair) bool
}

// CLEPair is two layers CrossLayerEqualization can equalize.
type CLEPair struct {
	First, Second *graph.Node
	// ClipInput names the tensor entering the Clip that joins them, or is
	// empty when they are joined directly or through Relu.
	ClipInput string
}

// CrossLayerEqualization rescales the output channels of each Conv or Gemm
// whose output feeds another Conv or Gemm, directly or through Relu or
// Clip(0, hi), by 1/s_i and the matching input channels of the second
// layer by s_i, with s_i = sqrt(r1_i/r2_i) where r1_i and r2_i are the
// channel's weight ranges in the two layers. Both then have range
// sqrt(r1_i*r2_i) in that channel, which is what per-tensor weight
// quantization needs (Nagel et al. 2019, "Data-Free Quantization").
//
// Relu commutes with a positive scale; Clip(0, hi) (ReLU6) does not: a
// channel divided by s is clipped at hi where the original was clipped at
// hi/s. It commutes where the clip never acts, so with the channel maxima
// m_i of opts.ClipInputMax a channel whose m_i exceeds hi keeps s_i = 1 and
// every other channel gets s_i >= m_i/hi, which keeps it below hi: the
// float outputs are unchanged on the data the maxima came from. (The
// paper's answer, replacing ReLU6 by Relu, changes the float model;
// rewriting the Clip as Relu and a per-channel Min keeps it but quantizes
// the tensor twice and was measured to cost more than it wins.)
func CrossLayerEqualization(m *graph.Model, opts CLEOptions) error {
	g := m.Graph
	pairs, err := clePairs(g, opts)
	if err != nil {
		return err
	}
	for it := 0; it < cleIterations; it++ {
		for _, p := range pairs {
			if err := p.equalize(); err != nil {
				return fmt.Errorf("cle %s -> %s: %w", p.a.n.Name, p.b.n.Name, err)
			}
		}
	}
	for _, p := range pairs {
		if err := p.store(g); err != nil {
			return fmt.Errorf("cle %s -> %s: %w", p.a.n.Name, p.b.n.Name, err)
		}
	}
	return nil
}

// CLEPairs lists the pairs of m that CrossLayerEqualization can equalize
// (those joined by a Clip only with the maxima of its input).
func CLEPairs(m *graph.Model) []CLEPair {
	var out []CLEPair
	visitPairs(m.Graph, func(a, b *cleLayer, j cleJoin) {
		p := CLEPair{First: a.n, Second: b.n}
		if j.clipIn != nil {
			p.ClipInput = j.clipIn.Name
		}
		out = append(out, p)
	})
	return out
}

// cleLayer is a Conv or Gemm with its float weights in row-major order.
type cleLayer struct {
	n      *graph.Node
	w      []float32
	shape  []int
	bias   []float32 // nil when absent
	group  int       // Conv groups; 1 for Gemm
	transB bool      // Gemm only
}

func (l *cleLayer) gemm() bool { return l.n.OpType == "Gemm" }

// outChannels and inChannels count the channels of the layer's output and
// input.
func (l *cleLayer) outChannels() int {
	if l.gemm() {
		if l.transB {
			return l.shape[0]
		}
		return l.shape[1]
	}
	return l.shape[0]
}

func (l *cleLayer) inChannels() int {
	if l.gemm() {
		if l.transB {
			return l.shape[1]
		}
		return l.shape[0]
	}
	return l.shape[1] * l.group
}

// eachOut calls f with the index of every weight of output channel i.
func (l *cleLayer) eachOut(i int, f func(k int)) {
	if l.gemm() {
		k, n := l.shape[0], l.shape[1]
		if l.transB { // [N, K]: row i
			for j := 0; j < n; j++ {
				f(i*n + j)
			}
			return
		}
		for r := 0; r < k; r++ { // [K, N]: column i
			f(r*n + i)
		}
		return
	}
	per := len(l.w) / l.shape[0]
	for k := i * per; k < (i+1)*per; k++ {
		f(k)
	}
}

// eachIn calls f with the index of every weight reading input channel i.
func (l *cleLayer) eachIn(i int, f func(k int)) {
	if l.gemm() {
		k, n := l.shape[0], l.shape[1]
		if l.transB { // [N, K]: column i
			for r := 0; r < k; r++ {
				f(r*n + i)
			}
			return
		}
		for j := 0; j < n; j++ { // [K, N]: row i
			f(i*n + j)
		}
		return
	}
	convEachIn(l.shape, l.group, i, func(_, k int) { f(k) })
}

func (l *cleLayer) rangeOf(each func(int, func(int)), i int) float64 {
	var r float64
	each(i, func(k int) { r = max(r, math.Abs(float64(l.w[k]))) })
	return r
}

// clePair is two layers joined directly or through ops that commute with
// a positive per-channel scale on the data seen.
type clePair struct {
	a, b *cleLayer
	// limit[i] is the least total scale channel i may have, or -1 when it
	// must keep scale 1; total[i] is the scale given so far. Both are nil
	// when no Clip joins the pair.
	limit, total []float64
}

func (p *clePair) equalize() error {
	for i := 0; i < p.a.outChannels(); i++ {
		r1 := p.a.rangeOf(p.a.eachOut, i)
		r2 := p.b.rangeOf(p.b.eachIn, i)
		if r1 == 0 || r2 == 0 || math.IsNaN(r1) || math.IsNaN(r2) || math.IsInf(r1, 0) || math.IsInf(r2, 0) {
			continue
		}
		s := math.Sqrt(r1 / r2)
		if p.limit != nil {
			if p.limit[i] < 0 {
				continue
			}
			s = max(s, p.limit[i]/p.total[i])
			p.total[i] *= s
		}
		inv := float32(1 / s)
		p.a.eachOut(i, func(k int) { p.a.w[k] *= inv })
		if p.a.bias != nil {
			p.a.bias[i] *= inv
		}
		sf := float32(s)
		p.b.eachIn(i, func(k int) { p.b.w[k] *= sf })
	}
	return nil
}

// store writes the scaled weights, biases and bounds back. Layers shared
// by two pairs hold the same slices, so storing twice is harmless.
func (p *clePair) store(g *graph.Graph) error {
	for _, l := range []*cleLayer{p.a, p.b} {
		if err := setFloat(g, l.n.Inputs[1], l.w, l.shape); err != nil {
			return err
		}
		if l.bias != nil {
			if err := setFloat(g, l.n.Inputs[2], l.bias, []int{len(l.bias)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// floatInit returns the float32 data and shape of an initializer read by
// exactly one node (so that changing it changes nothing else).
func floatInit(v *graph.Value) ([]float32, []int, bool) {
	if v == nil || v.Initializer == nil || len(v.Consumers) != 1 || v.Initializer.GetDataType() != int32(tensor.Float) {
		return nil, nil, false
	}
	t, err := onnxio.ToTensor(v.Initializer)
	if err != nil {
		return nil, nil, false
	}
	return append([]float32(nil), t.Float32()...), t.Shape, true
}

func setFloat(g *graph.Graph, v *graph.Value, data []float32, shape []int) error {
	tp, err := onnxio.FromTensor(v.Name, tensor.FromFloat32(data, shape...))
	if err != nil {
		return fmt.Errorf("initializer %q: %w", v.Name, err)
	}
	v.Graph.SetInitializer(v, tp)
	return nil
}

// cleLayerOf returns the layer a node is, or nil when CLE cannot touch it.
func cleLayerOf(n *graph.Node, cache map[*graph.Node]*cleLayer) *cleLayer {
	if l, ok := cache[n]; ok {
		return l
	}
	l := newCLELayer(n)
	cache[n] = l
	return l
}

func newCLELayer(n *graph.Node) *cleLayer {
	if !isDefault(n) || (n.OpType != "Conv" && n.OpType != "Gemm") || len(n.Inputs) < 2 || len(n.Outputs) != 1 {
		return nil
	}
	w, shape, ok := floatInit(n.Inputs[1])
	if !ok {
		return nil
	}
	l := &cleLayer{n: n, w: w, shape: shape, group: 1}
	if n.OpType == "Gemm" {
		if len(shape) != 2 || n.AttrInt("transA", 0) != 0 {
			return nil
		}
		l.transB = n.AttrInt("transB", 0) != 0
	} else {
		if len(shape) < 3 {
			return nil
		}
		l.group = int(n.AttrInt("group", 1))
		if l.group < 1 || shape[0]%l.group != 0 {
			return nil
		}
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != nil {
		b, _, ok := floatInit(n.Inputs[2])
		if !ok || len(b) != l.outChannels() {
			return nil
		}
		l.bias = b
	}
	return l
}

// soleUse returns the only consumer of v, or nil when v has several, none,
// or is a graph output.
func soleUse(g *graph.Graph, v *graph.Value) *graph.Node {
	if v == nil || len(v.Consumers) != 1 || g.IsOutput(v) {
		return nil
	}
	return v.Consumers[0]
}

// cleJoin is the path from a layer's output to the next layer's input.
type cleJoin struct {
	in     *graph.Value // what the next layer reads
	clipIn *graph.Value // the tensor entering the Clip on the path, if any
	hi     float32      // that Clip's upper bound
}

// followJoin follows v through Relu nodes and at most one Clip(0, hi) to the
// value the next layer reads; ok is false when something else is in the
// way or a value has other readers.
func followJoin(g *graph.Graph, v *graph.Value) (j cleJoin, ok bool) {
	next := soleUse(g, v)
	for next != nil && isDefault(next) && len(next.Outputs) == 1 && next.Inputs[0] == v {
		switch next.OpType {
		case "Relu":
		case "Clip":
			lo, hi, ok := clipBounds(next)
			if !ok || lo != 0 || !(hi > 0) || j.clipIn != nil {
				return j, false
			}
			j.clipIn, j.hi = v, hi
		default:
			j.in = v
			return j, true
		}
		v = next.Outputs[0]
		next = soleUse(g, v)
	}
	j.in = v
	return j, next != nil
}

// visitPairs calls f for each pair of layers in graph order with the path
// that joins them.
func visitPairs(g *graph.Graph, f func(a, b *cleLayer, j cleJoin)) {
	cache := map[*graph.Node]*cleLayer{}
	for _, n := range append([]*graph.Node(nil), g.Nodes...) {
		a := cleLayerOf(n, cache)
		if a == nil {
			continue
		}
		j, ok := followJoin(g, n.Outputs[0])
		if !ok {
			continue
		}
		next := soleUse(g, j.in)
		if next == nil || len(next.Inputs) < 2 || next.Inputs[0] != j.in || next.Inputs[1] == j.in {
			continue
		}
		b := cleLayerOf(next, cache)
		if b == nil || b == a || b.inChannels() != a.outChannels() {
			continue
		}
		f(a, b, j)
	}
}

// clePairs finds the pairs to equalize in graph order.
func clePairs(g *graph.Graph, opts CLEOptions) ([]*clePair, error) {
	var pairs []*clePair
	visitPairs(g, func(a, b *cleLayer, j cleJoin) {
		sel := CLEPair{First: a.n, Second: b.n}
		if j.clipIn != nil {
			sel.ClipInput = j.clipIn.Name
		}
		if opts.Select != nil && !opts.Select(sel) {
			return
		}
		p := &clePair{a: a, b: b}
		if j.clipIn != nil {
			maxima := opts.ClipInputMax[j.clipIn.Name]
			if len(maxima) != a.outChannels() {
				return
			}
			p.limit = make([]float64, len(maxima))
			p.total = make([]float64, len(maxima))
			for i, m := range maxima {
				p.total[i] = 1
				switch {
				case m > j.hi || math.IsNaN(float64(m)):
					p.limit[i] = -1
				case m > 0:
					p.limit[i] = float64(m) / float64(j.hi)
				}
			}
		}
		pairs = append(pairs, p)
	})
	return pairs, nil
}
