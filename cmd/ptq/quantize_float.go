package main

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/rewrite"
)

// maxSoftmaxStep is the coarsest quantization step a Softmax input may
// have. Softmax turns a step s on its input into a relative error of up to
// s/2 on each probability; beyond a quarter the probabilities are noise.
// A wider range than that almost always comes from an additive attention
// mask ((1-mask)·-10000, or ·finfo.min): quantized with it, every real score
// rounds to the same level and attention becomes uniform.
const maxSoftmaxStep = 0.25

// softmaxOps normalise along an axis: their input's offset does not matter
// but its resolution does.
var softmaxOps = map[string]bool{"Softmax": true, "LogSoftmax": true}

// shapeOps move values without changing them: a range dropped at a Softmax
// input is dropped up through them too, since the plan shares ranges
// across them.
var shapeOps = map[string]bool{"Flatten": true, "Reshape": true, "Transpose": true, "Squeeze": true, "Unsqueeze": true, "Identity": true}

// dropWideSoftmaxInputs removes from ranges every Softmax input (and the
// tensors it is a reshaped view of) whose range is too wide for type t, so
// that those nodes stay float, and records why.
func dropWideSoftmaxInputs(m *graph.Model, ranges map[string]calibrate.Range, t quant.Type, why map[string]string) {
	levels := math.Exp2(float64(t.Bits)) - 1
	m.Graph.Walk(func(g *graph.Graph) error {
		for _, n := range g.Nodes {
			if n.Domain != "" && n.Domain != "ai.onnx" || !softmaxOps[n.OpType] || len(n.Inputs) == 0 {
				continue
			}
			for v := n.Inputs[0]; v != nil; {
				r, ok := ranges[v.Name]
				if !ok {
					break
				}
				step := (float64(r.Hi) - float64(r.Lo)) / levels
				if step <= maxSoftmaxStep {
					break
				}
				delete(ranges, v.Name)
				why[v.Name] = fmt.Sprintf("tensor %q feeds %s over [%g, %g], too wide for %d bits (an additive attention mask?)", v.Name, n.OpType, r.Lo, r.Hi, t.Bits)
				p := v.Producer
				if p == nil || !shapeOps[p.OpType] || len(p.Inputs) == 0 {
					break
				}
				v = p.Inputs[0]
			}
		}
		return nil
	})
}

// skipReason is why a node stayed float: the plan's reason, or a more
// precise one when a tensor it reads or writes was given no range on
// purpose.
func skipReason(s rewrite.Skip, floatWhy map[string]string) string {
	for _, vs := range [][]*graph.Value{s.Node.Inputs, s.Node.Outputs} {
		for _, v := range vs {
			if v != nil && floatWhy[v.Name] != "" {
				return floatWhy[v.Name]
			}
		}
	}
	return s.Reason
}
