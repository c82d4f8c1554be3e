package graph

import (
	"fmt"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// Attr returns the attribute with the given name, or nil.
func (n *Node) Attr(name string) *onnx.AttributeProto {
	for _, a := range n.Attrs {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// AttrInt returns an INT attribute, or def when it is absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.GetI()
	}
	return def
}

// AttrFloat returns a FLOAT attribute, or def when it is absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.GetF()
	}
	return def
}

// AttrString returns a STRING attribute, or def when it is absent.
func (n *Node) AttrString(name string, def string) string {
	if a := n.Attr(name); a != nil {
		return string(a.GetS())
	}
	return def
}

// AttrInts returns an INTS attribute, or def when it is absent.
func (n *Node) AttrInts(name string, def []int64) []int64 {
	if a := n.Attr(name); a != nil {
		return a.GetInts()
	}
	return def
}

// AttrFloats returns a FLOATS attribute, or def when it is absent.
func (n *Node) AttrFloats(name string, def []float32) []float32 {
	if a := n.Attr(name); a != nil {
		return a.GetFloats()
	}
	return def
}

// AttrStrings returns a STRINGS attribute, or def when it is absent.
func (n *Node) AttrStrings(name string, def []string) []string {
	a := n.Attr(name)
	if a == nil {
		return def
	}
	out := make([]string, len(a.GetStrings()))
	for i, s := range a.GetStrings() {
		out[i] = string(s)
	}
	return out
}

// AttrTensor returns a TENSOR attribute, or nil when it is absent.
func (n *Node) AttrTensor(name string) *onnx.TensorProto {
	if a := n.Attr(name); a != nil {
		return a.GetT()
	}
	return nil
}

// SetAttr adds or replaces an attribute. The attribute list is copied
// first: it may be shared with the ModelProto the node was read from, which
// must not change.
func (n *Node) SetAttr(a *onnx.AttributeProto) {
	attrs := append([]*onnx.AttributeProto(nil), n.Attrs...)
	for i, old := range attrs {
		if old.GetName() == a.GetName() {
			attrs[i] = a
			n.Attrs = attrs
			return
		}
	}
	n.Attrs = append(attrs, a)
}

// RemoveAttr deletes an attribute if present, without touching the list
// the node was read with (see SetAttr).
func (n *Node) RemoveAttr(name string) {
	for i, a := range n.Attrs {
		if a.GetName() == name {
			attrs := make([]*onnx.AttributeProto, 0, len(n.Attrs)-1)
			n.Attrs = append(append(attrs, n.Attrs[:i]...), n.Attrs[i+1:]...)
			return
		}
	}
}

// String names the node for error messages: its name, or its op type and
// first output when it has no name.
func (n *Node) String() string {
	if n.Name != "" {
		return fmt.Sprintf("%s (%s)", n.Name, n.OpType)
	}
	if len(n.Outputs) > 0 && n.Outputs[0] != nil {
		return fmt.Sprintf("%s producing %q", n.OpType, n.Outputs[0].Name)
	}
	return n.OpType
}

// IntAttr builds an INT attribute.
func IntAttr(name string, v int64) *onnx.AttributeProto {
	t := onnx.AttributeProto_INT
	return &onnx.AttributeProto{Name: &name, Type: &t, I: &v}
}

// IntsAttr builds an INTS attribute.
func IntsAttr(name string, v []int64) *onnx.AttributeProto {
	t := onnx.AttributeProto_INTS
	return &onnx.AttributeProto{Name: &name, Type: &t, Ints: v}
}

// FloatAttr builds a FLOAT attribute.
func FloatAttr(name string, v float32) *onnx.AttributeProto {
	t := onnx.AttributeProto_FLOAT
	return &onnx.AttributeProto{Name: &name, Type: &t, F: &v}
}

// StringAttr builds a STRING attribute.
func StringAttr(name string, v string) *onnx.AttributeProto {
	t := onnx.AttributeProto_STRING
	return &onnx.AttributeProto{Name: &name, Type: &t, S: []byte(v)}
}
