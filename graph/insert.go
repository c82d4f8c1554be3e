package graph

import "github.com/ptq-dev/ptq/onnxio/onnx"

// InsertAfter puts a new node on the edges leaving v: the node reads v
// (then extra, for example a scale and zero point), produces a new value
// named after base, and every node that read v reads that value instead.
// Graph outputs keep v, so a model's interface does not change. The node
// goes into v's graph, right after v's producer.
func (v *Value) InsertAfter(opType, domain, base string, extra []*Value, attrs ...*onnx.AttributeProto) *Node {
	consumers := append([]*Node(nil), v.Consumers...)
	n := v.Graph.AddNode(opType, domain, append([]*Value{v}, extra...), []string{base}, attrs...)
	out := n.Outputs[0]
	for _, c := range consumers {
		for i, in := range c.Inputs {
			if in == v {
				c.SetInput(i, out)
			}
		}
	}
	return n
}
