package rewrite

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// BiasTarget is a Conv or Gemm of a QDQ model whose weight is dequantized
// and whose bias is a constant (float, or int32 behind DequantizeLinear),
// so bias correction can shift its output per channel.
type BiasTarget struct {
	Node     string // node name, the same in the float model the QDQ model came from
	Output   string // the node's output in the QDQ model
	Channels int    // output channels: axis 1 of the output
}

// BiasTargets lists the bias correction targets of a QDQ model in
// topological order, so corrections can be applied in network order.
func BiasTargets(q *graph.Model) ([]BiasTarget, error) {
	nodes, err := q.Graph.TopoSort()
	if err != nil {
		return nil, err
	}
	var out []BiasTarget
	for _, n := range nodes {
		if !isDefault(n) || (n.OpType != "Conv" && n.OpType != "Gemm") || len(n.Inputs) < 3 || n.Outputs[0] == nil {
			continue
		}
		if w := n.Inputs[1]; w == nil || w.Producer == nil || w.Producer.OpType != "DequantizeLinear" {
			continue
		}
		b, _, _, err := readBias(n)
		if err != nil || b == nil {
			continue
		}
		out = append(out, BiasTarget{Node: n.Name, Output: n.Outputs[0].Name, Channels: len(b)})
	}
	return out, nil
}

// readBias returns a node's bias as float values, with the int32 data and
// per-channel scales when it is quantized.
func readBias(n *graph.Node) (b []float32, q []int32, scales []float32, err error) {
	v := n.Inputs[2]
	if v == nil {
		return nil, nil, nil, nil
	}
	if v.Initializer != nil {
		data, _, ok := floatInit(v)
		if !ok {
			return nil, nil, nil, fmt.Errorf("bias %q is not a float32 constant read by one node", v.Name)
		}
		return data, nil, nil, nil
	}
	dq := v.Producer
	if dq == nil || dq.OpType != "DequantizeLinear" || len(dq.Inputs) < 2 || dq.Inputs[0].Initializer == nil || dq.Inputs[1].Initializer == nil {
		return nil, nil, nil, fmt.Errorf("bias %q is neither a constant nor dequantized from one", v.Name)
	}
	qt, err := onnxio.ToTensor(dq.Inputs[0].Initializer)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := onnxio.ToTensor(dq.Inputs[1].Initializer)
	if err != nil {
		return nil, nil, nil, err
	}
	qd, ok1 := qt.Data.([]int32)
	sd, ok2 := st.Data.([]float32)
	if !ok1 || !ok2 || (len(sd) != 1 && len(sd) != len(qd)) {
		return nil, nil, nil, fmt.Errorf("bias %q: want int32 data with float scales", v.Name)
	}
	if len(dq.Inputs) > 2 && dq.Inputs[2] != nil {
		return nil, nil, nil, fmt.Errorf("bias %q has a zero point", v.Name)
	}
	scales = make([]float32, len(qd))
	b = make([]float32, len(qd))
	for i, x := range qd {
		scales[i] = sd[min(i, len(sd)-1)]
		b[i] = float32(x) * scales[i]
	}
	return b, append([]int32(nil), qd...), scales, nil
}

// CorrectBias subtracts delta (one value per output channel: the mean error
// of the node's output) from the bias of node name in q. A quantized bias
// is requantized with its scale, saturating at the int32 range.
func CorrectBias(q *graph.Model, name string, delta []float64) error {
	var n *graph.Node
	for _, m := range q.Graph.Nodes {
		if m.Name == name {
			n = m
			break
		}
	}
	if n == nil {
		return fmt.Errorf("bias correction: no node %q", name)
	}
	b, qd, scales, err := readBias(n)
	if err != nil {
		return fmt.Errorf("node %q: %w", name, err)
	}
	if len(b) != len(delta) {
		return fmt.Errorf("node %q: %d corrections for %d bias values", name, len(delta), len(b))
	}
	if qd == nil {
		for i := range b {
			b[i] -= float32(delta[i])
		}
		return setFloat(n.Graph, n.Inputs[2], b, []int{len(b)})
	}
	for i := range qd {
		if scales[i] == 0 || math.IsNaN(delta[i]) {
			continue
		}
		v := math.RoundToEven(float64(qd[i]) - delta[i]/float64(scales[i]))
		qd[i] = int32(max(min(v, math.MaxInt32), math.MinInt32))
	}
	bv := n.Inputs[2].Producer.Inputs[0]
	tp, err := onnxio.FromTensor(bv.Name, &tensor.Tensor{DType: tensor.Int32, Shape: []int{len(qd)}, Data: qd})
	if err != nil {
		return err
	}
	bv.Graph.SetInitializer(bv, tp)
	return nil
}
