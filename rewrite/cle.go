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

// CrossLayerEqualization rescales the output channels of each Conv or Gemm
// whose output feeds another Conv or Gemm, directly or through Relu, by 1/s_i and the matching input channels of the second
// layer by s_i, with s_i = sqrt(r1_i/r2_i) where r1_i and r2_i are the
// channel's weight ranges in the two layers. Both then have range
// sqrt(r1_i*r2_i) in that channel, which is what per-tensor weight
// quantization needs (Nagel et al. 2019, "Data-Free Quantization").
//
// Relu commutes with a positive scale; Clip(0, 6) (ReLU6) does not, so
// pairs joined by it are left alone. Rewriting it as Relu followed by a Min
// with per-channel bounds 6/s_i keeps the float function, but was measured
// to cost more than it wins: the Min cannot fold into the producer's
// quantization range, so the tensor is quantized twice, first over the
// unclipped range (torchvision mobilenet_v2, per-tensor weights: 15.7 dB
// without CLE, 15.3 dB with it; 16.3 dB with Relu pairs only).
func CrossLayerEqualization(m *graph.Model) error {
	g := m.Graph
	pairs, err := clePairs(g)
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
	m, cg := l.shape[0], l.shape[1]
	spatial := len(l.w) / (m * cg)
	grp, local := i/cg, i%cg
	mg := m / l.group
	for o := grp * mg; o < (grp+1)*mg; o++ {
		base := (o*cg + local) * spatial
		for k := base; k < base+spatial; k++ {
			f(k)
		}
	}
}

func (l *cleLayer) rangeOf(each func(int, func(int)), i int) float64 {
	var r float64
	each(i, func(k int) { r = max(r, math.Abs(float64(l.w[k]))) })
	return r
}

// clePair is two layers joined directly or through Relu, which commutes
// with a positive per-channel scale.
type clePair struct{ a, b *cleLayer }

func (p *clePair) equalize() error {
	for i := 0; i < p.a.outChannels(); i++ {
		r1 := p.a.rangeOf(p.a.eachOut, i)
		r2 := p.b.rangeOf(p.b.eachIn, i)
		if r1 == 0 || r2 == 0 || math.IsNaN(r1) || math.IsNaN(r2) || math.IsInf(r1, 0) || math.IsInf(r2, 0) {
			continue
		}
		s := math.Sqrt(r1 / r2)
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

// clePairs finds the pairs in graph order.
func clePairs(g *graph.Graph) ([]*clePair, error) {
	cache := map[*graph.Node]*cleLayer{}
	var pairs []*clePair
	for _, n := range append([]*graph.Node(nil), g.Nodes...) {
		a := cleLayerOf(n, cache)
		if a == nil {
			continue
		}
		v := n.Outputs[0]
		next := soleUse(g, v)
		for next != nil && isDefault(next) && next.OpType == "Relu" {
			v = next.Outputs[0]
			next = soleUse(g, v)
		}
		if next == nil || len(next.Inputs) < 2 || next.Inputs[0] != v || next.Inputs[1] == v {
			continue
		}
		b := cleLayerOf(next, cache)
		if b == nil || b == a || b.inChannels() != a.outChannels() {
			continue
		}
		pairs = append(pairs, &clePair{a: a, b: b})
	}
	return pairs, nil
}
