package graph

import (
	"fmt"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// MakeInitializer turns v, a value of g that no node produces any more (its
// producer was removed), into an initializer holding t, keeping v's name so
// consumers and graph outputs stay as they were. t's name is set to match.
func (g *Graph) MakeInitializer(v *Value, t *onnx.TensorProto) error {
	switch {
	case v.Graph != g:
		return fmt.Errorf("value %q is not defined in graph %q", v.Name, g.Name)
	case v.Producer != nil:
		return fmt.Errorf("value %q is still produced by %s", v.Name, v.Producer)
	case v.Initializer != nil:
		return fmt.Errorf("value %q is already an initializer", v.Name)
	case g.isInput(v):
		return fmt.Errorf("value %q is a graph input", v.Name)
	}
	name := v.Name
	t.Name = &name
	v.Initializer = t
	// RemoveNode may have forgotten a value nobody read; define it again.
	g.values[name] = v
	g.initializers = append(g.initializers, v)
	return nil
}

// Merge makes the node producing old produce into instead, and every reader
// of old read into, then forgets old. into must be a value of g without a
// producer that is neither an input nor an initializer: typically a graph
// output whose producer (an Identity, a folded BatchNormalization) was just
// removed, so the output keeps its name.
func (g *Graph) Merge(old, into *Value) error {
	p := old.Producer
	switch {
	case p == nil || p.Graph != g:
		return fmt.Errorf("value %q is not produced by a node of graph %q", old.Name, g.Name)
	case into.Graph != g || into.Producer != nil || into.Initializer != nil || g.isInput(into):
		return fmt.Errorf("value %q cannot take over %q: it is produced, an input or an initializer, or belongs to another graph", into.Name, old.Name)
	case g.IsOutput(old):
		return fmt.Errorf("value %q is a graph output", old.Name)
	}
	for i, o := range p.Outputs {
		if o == old {
			p.Outputs[i] = into
		}
	}
	into.Producer = p
	old.Producer = nil
	g.values[into.Name] = into
	ReplaceUses(old, into)
	if g.values[old.Name] == old {
		delete(g.values, old.Name)
	}
	return nil
}
