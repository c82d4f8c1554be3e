package rewrite

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/tensor"
)

// Result tells what QDQ did.
type Result struct {
	Quantized []*graph.Node // nodes now between DequantizeLinear and QuantizeLinear
	Folded    []*graph.Node // Relu/Clip nodes folded into the preceding op's range
	Skipped   []Skip        // candidate nodes left in float, with the reason
	// Params are the activation parameters chosen, by tensor name.
	Params map[string]quant.Params
}

// QDQ rewrites the model as the plan says, with activation ranges from
// calibration (by tensor name; Static mode only). Nodes whose tensors have
// no range, because they are not float32 or the data never reached them,
// stay in float and are listed in Result.Skipped.
func QDQ(p *Plan, ranges map[string]calibrate.Range) (*Result, error) {
	res := &Result{Skipped: append([]Skip(nil), p.Skipped...), Params: map[string]quant.Params{}}
	if need := p.cfg.TargetOpset(); p.m.Opset("") < need {
		return nil, fmt.Errorf("model imports opset %d; quantized output needs %d: run the upgrade-opset pass first", p.m.Opset(""), need)
	}
	switch p.cfg.Mode {
	case Dynamic:
		return res, p.dynamic(res)
	case WeightOnly:
		return res, p.weightOnly(res)
	}
	params, err := p.resolveParams(ranges, res)
	if err != nil {
		return nil, err
	}
	for _, n := range p.foldedList {
		prod, ok := p.folded[n]
		if !ok || p.rule[prod].Kind == 0 {
			continue // the producer fell back to float: keep the clamp
		}
		if n.OpType == "HardSigmoid" {
			if err := p.applyHardSigmoidFold(n, prod, params); err != nil {
				return nil, err
			}
			res.Folded = append(res.Folded, n)
			continue
		}
		y, x := n.Outputs[0], n.Inputs[0]
		graph.ReplaceUses(y, x)
		n.Graph.RemoveNode(n)
		res.Folded = append(res.Folded, n)
	}
	// Weights and biases first: bias scales depend on input scales.
	for _, n := range p.nodes {
		r := p.rule[n]
		if r.Kind != Compute {
			continue
		}
		if err := p.quantizeWeights(n, r, params); err != nil {
			return nil, fmt.Errorf("node %s: %w", n, err)
		}
	}
	shared := map[*graph.Value][2]*graph.Value{}
	for _, a := range p.actList {
		if a.dead {
			continue
		}
		if err := p.emit(a, params[a.v], shared); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", a.v.Name, err)
		}
		res.Params[a.v.Name] = params[a.v]
	}
	if err := p.affineHardSigmoids(); err != nil {
		return nil, err
	}
	res.Quantized = append(res.Quantized, p.nodes...)
	removeUnusedInitializers(p.m.Graph)
	return res, nil
}

// resolveParams turns ranges into parameters, then drops every node whose
// tensors have none, repeating until what remains is consistent.
func (p *Plan) resolveParams(ranges map[string]calibrate.Range, res *Result) (map[*graph.Value]quant.Params, error) {
	t := p.cfg.ActivationType
	params := map[*graph.Value]quant.Params{}
	var get func(a *act, depth int) (quant.Params, bool)
	get = func(a *act, depth int) (quant.Params, bool) {
		if a.dead || depth > 1000 {
			return quant.Params{}, false
		}
		if q, ok := params[a.v]; ok {
			return q, true
		}
		if a.sameAs != nil {
			up := p.acts[a.sameAs]
			if up == nil {
				return quant.Params{}, false
			}
			q, ok := get(up, depth+1)
			if ok {
				params[a.v] = q
			}
			return q, ok
		}
		name := a.v.Name
		if a.rangeOf != "" {
			name = a.rangeOf
		}
		var rg calibrate.Range
		found := false
		if o, ok := p.cfg.Tensors[name]; ok && o.Float {
			return quant.Params{}, false
		}
		if o, ok := p.cfg.Tensors[name]; ok && o.Range != nil {
			rg, found = *o.Range, true
		} else if a.constant {
			tt, err := tensorOf(a.v)
			if err == nil && tt.DType == tensor.Float {
				rg, found = minMax(tt.Float32()), true
			}
		} else {
			rg, found = ranges[name]
		}
		if !found || !finite(rg.Lo) || !finite(rg.Hi) {
			return quant.Params{}, false
		}
		q := quant.ParamsFor(rg.Lo, rg.Hi, t, p.cfg.SymmetricActivations)
		params[a.v] = q
		return q, true
	}
	for changed := true; changed; {
		changed = false
		for k := range params {
			delete(params, k)
		}
		for _, a := range p.actList {
			if _, ok := get(a, 0); !ok && !a.dead {
				a.dead = true
				changed = true
			}
		}
		// A node with a dead tensor falls back to float.
		keep := p.nodes[:0]
		for _, n := range p.nodes {
			if ok, why := p.nodeAlive(n); !ok {
				res.Skipped = append(res.Skipped, Skip{n, why})
				p.dropNode(n)
				changed = true
				continue
			}
			keep = append(keep, n)
		}
		p.nodes = keep
	}
	return params, nil
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

func minMax(xs []float32) calibrate.Range {
	if len(xs) == 0 {
		return calibrate.Range{}
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return calibrate.Range{Lo: lo, Hi: hi}
}

func (p *Plan) nodeAlive(n *graph.Node) (bool, string) {
	for _, a := range p.actList {
		for _, u := range a.uses {
			if u.node == n && a.dead {
				return false, fmt.Sprintf("no range for input %q (not float32, or not reached by the calibration data)", a.v.Name)
			}
		}
	}
	for _, v := range n.Outputs {
		if a := p.acts[v]; a != nil && a.dead && a.v.Producer == n {
			return false, fmt.Sprintf("no range for output %q (not float32, or not reached by the calibration data)", v.Name)
		}
	}
	return true, ""
}

func (p *Plan) dropNode(n *graph.Node) {
	delete(p.rule, n)
	for _, a := range p.actList {
		kept := a.uses[:0]
		for _, u := range a.uses {
			if u.node != n {
				kept = append(kept, u)
			}
		}
		a.uses = kept
		if a.v.Producer == n {
			// A float node's output can still be quantized, with its own
			// range, for the quantized nodes that read it.
			if len(a.uses) > 0 && a.rangeOf == "" && a.sameAs == nil {
				a.all = false
			} else {
				a.dead = true
			}
		}
	}
	for c, prod := range p.folded {
		if prod == n {
			delete(p.folded, c)
			delete(p.alias, c.Outputs[0])
		}
	}
	// An input quantized only for this node no longer needs it.
	for _, a := range p.actList {
		if !a.dead && !a.all && len(a.uses) == 0 {
			a.dead = true
		}
	}
}

// emit inserts the QuantizeLinear of a tensor and one DequantizeLinear for
// each reader that should see the quantized value.
//
// Tensors that share parameters (through order-preserving ops) share the
// scale and zero point initializers too, which tells later passes that no
// requantization happens between them.
func (p *Plan) emit(a *act, q quant.Params, shared map[*graph.Value][2]*graph.Value) error {
	v := a.v
	g := v.Graph
	root := a
	for root.sameAs != nil && p.acts[root.sameAs] != nil {
		root = p.acts[root.sameAs]
	}
	sz, ok := shared[root.v]
	if !ok {
		sz[0] = root.v.Graph.AddInitializer(root.v.Name+"_scale", scalarFloat(q.Scale))
		sz[1] = root.v.Graph.AddInitializer(root.v.Name+"_zero_point", zeroPoint(p.cfg.ActivationType, []int32{q.ZeroPoint}, nil))
		shared[root.v] = sz
	}
	scale, zp := sz[0], sz[1]

	var readers []use
	if a.all {
		for _, c := range v.Consumers {
			for i, in := range c.Inputs {
				if in == v {
					readers = append(readers, use{c, i})
				}
			}
		}
	} else {
		readers = a.uses
	}
	src := v
	isOut := g.IsOutput(v)
	if a.all && isOut && v.Producer != nil {
		// The graph output keeps its name and is produced by a DQ, so the
		// producer's own output has only the Q as reader and can fuse.
		var err error
		if src, err = v.Detach(v.Name + "_float"); err != nil {
			return err
		}
	}
	qn := g.AddNode("QuantizeLinear", "", []*graph.Value{src, scale, zp}, []string{v.Name + "_quantized"})
	qv := qn.Outputs[0]
	for _, u := range readers {
		if u.node.Inputs[u.input] != v {
			continue
		}
		dq := u.node.Graph.AddNode("DequantizeLinear", "", []*graph.Value{qv, scale, zp}, []string{v.Name + "_dequantized"})
		u.node.SetInput(u.input, dq.Outputs[0])
	}
	if src != v {
		if _, err := g.AddNodeProducing("DequantizeLinear", "", []*graph.Value{qv, scale, zp}, []*graph.Value{v}); err != nil {
			return err
		}
	}
	return nil
}

func scalarFloat(x float32) *onnx.TensorProto {
	tp, _ := onnxio.FromTensor("", tensor.FromFloat32([]float32{x}))
	return tp
}

// storage is the tensor type that holds values of a quantized type.
func storage(t quant.Type) tensor.DType {
	switch {
	case t.Bits <= 4 && t.Signed:
		return tensor.Int4
	case t.Bits <= 4:
		return tensor.Uint4
	case t.Bits <= 8 && t.Signed:
		return tensor.Int8
	case t.Bits <= 8:
		return tensor.Uint8
	case t.Signed:
		return tensor.Int16
	}
	return tensor.Uint16
}

// intTensor stores integer values as the storage type of t.
func intTensor(t quant.Type, vals []int32, shape []int) *onnx.TensorProto {
	dt := storage(t)
	tt := tensor.New(dt, shape...)
	switch d := tt.Data.(type) {
	case []int8:
		for i, v := range vals {
			d[i] = int8(v)
		}
	case []uint8:
		for i, v := range vals {
			d[i] = uint8(v)
		}
	case []int16:
		for i, v := range vals {
			d[i] = int16(v)
		}
	case []uint16:
		for i, v := range vals {
			d[i] = uint16(v)
		}
	}
	tp, err := onnxio.FromTensor("", tt)
	if err != nil {
		panic(err) // the shapes and types above are consistent by construction
	}
	return tp
}

func zeroPoint(t quant.Type, zps []int32, shape []int) *onnx.TensorProto {
	return intTensor(t, zps, shape)
}

func tensorOf(v *graph.Value) (*tensor.Tensor, error) {
	if v.Initializer == nil {
		return nil, fmt.Errorf("%q is not a constant", v.Name)
	}
	return onnxio.ToTensor(v.Initializer)
}

// removeUnusedInitializers drops float weights that quantized copies replaced.
func removeUnusedInitializers(root *graph.Graph) {
	root.Walk(func(g *graph.Graph) error {
		for _, v := range append([]*graph.Value(nil), g.Initializers()...) {
			if len(v.Consumers) == 0 && !g.IsOutput(v) {
				g.RemoveInitializer(v)
			}
		}
		return nil
	})
}
