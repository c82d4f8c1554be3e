package rewrite

import (
	"fmt"
	"reflect"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// Names of the prepare passes, in the order Prepare runs them. Each can be
// switched off by name through RunPasses' skip map.
const (
	PassConstants     = "constants-to-initializers"
	PassIdentity      = "remove-identity"
	PassFoldConstants = "fold-constants"
	PassFoldBatchNorm = "fold-batchnorm"
	PassUpgradeOpset  = "upgrade-opset"
)

// Prepare returns the passes that make a float model ready to quantize,
// in order: Constant nodes become initializers (so weights are found where
// the quantizer looks), Identity and inference Dropout go, constant
// subgraphs are folded, a constant Add after a convolution is folded into
// its bias, BatchNormalization is folded into the Conv, ConvTranspose or
// Gemm before it, the default-domain opset is raised to target (a no-op
// when the model already imports target or later), and a ConvTranspose
// whose kernel equals its stride becomes a 1x1 Conv and a DepthToSpace,
// two such DepthToSpace around a small 1x1 Conv merging into one. None of
// them changes what the model computes (up to float rounding).
func Prepare(target int) []Pass {
	return []Pass{
		{Name: PassConstants, Run: ConstantsToInitializers},
		{Name: PassIdentity, Run: RemoveIdentity},
		{Name: PassFoldConstants, Run: FoldConstants},
		{Name: PassFoldBiasAdd, Run: FoldBiasAdd},
		{Name: PassFoldBatchNorm, Run: FoldBatchNorm},
		{Name: PassUpgradeOpset, Run: func(m *graph.Model) error { return UpgradeOpset(m, target) }},
		{Name: PassConvTranspose, Run: ConvTransposeToConv},
		{Name: PassMergeDepthToSpace, Run: MergeDepthToSpace},
	}
}

// graphs returns m's graphs, subgraphs after the graph that holds them.
func graphs(m *graph.Model) []*graph.Graph {
	var gs []*graph.Graph
	m.Graph.Walk(func(g *graph.Graph) error { gs = append(gs, g); return nil })
	return gs
}

// ConstantsToInitializers replaces every Constant node, in the main graph
// and in every subgraph, by an initializer of the graph that held it, under
// the same name. Exporters often put weights in Constant nodes; the
// quantizer and the folding passes look for initializers.
func ConstantsToInitializers(m *graph.Model) error {
	for _, g := range graphs(m) {
		for _, n := range append([]*graph.Node(nil), g.Nodes...) {
			if !isDefault(n) || n.OpType != "Constant" {
				continue
			}
			if len(n.Outputs) != 1 || n.Outputs[0] == nil {
				return fmt.Errorf("node %s: a Constant has exactly one output", n)
			}
			out := n.Outputs[0]
			if g.IsOutput(out) {
				// An initializer that is also a graph output is legal but
				// some runtimes drop it; a Constant feeding an output is
				// not a weight anyway.
				continue
			}
			t, err := constantValue(n)
			if err != nil {
				return fmt.Errorf("node %s: %w", n, err)
			}
			g.RemoveNode(n)
			if err := g.MakeInitializer(out, t); err != nil {
				return fmt.Errorf("node %s: %w", n, err)
			}
		}
	}
	return nil
}

func isDefault(n *graph.Node) bool { return n.Domain == "" || n.Domain == "ai.onnx" }

// constantValue returns the tensor a Constant node produces, whichever of
// its attributes holds it.
func constantValue(n *graph.Node) (*onnx.TensorProto, error) {
	if len(n.Attrs) != 1 {
		return nil, fmt.Errorf("a Constant needs exactly one value attribute, has %d", len(n.Attrs))
	}
	a := n.Attrs[0]
	switch a.GetName() {
	case "value":
		return cloneTensor(a.GetT()), nil
	case "value_float":
		return onnxio.FromTensor("", tensor.FromFloat32([]float32{a.GetF()}))
	case "value_floats":
		return onnxio.FromTensor("", tensor.FromFloat32(append([]float32(nil), a.GetFloats()...), len(a.GetFloats())))
	case "value_int":
		return onnxio.FromTensor("", tensor.FromInt64([]int64{a.GetI()}))
	case "value_ints":
		return onnxio.FromTensor("", tensor.FromInt64(append([]int64(nil), a.GetInts()...), len(a.GetInts())))
	case "value_string":
		return onnxio.FromTensor("", &tensor.Tensor{DType: tensor.String, Shape: []int{}, Data: []string{string(a.GetS())}})
	case "value_strings":
		ss := make([]string, len(a.GetStrings()))
		for i, s := range a.GetStrings() {
			ss[i] = string(s)
		}
		return onnxio.FromTensor("", &tensor.Tensor{DType: tensor.String, Shape: []int{len(ss)}, Data: ss})
	case "sparse_value":
		return densify(a.GetSparseTensor())
	}
	return nil, fmt.Errorf("unknown Constant attribute %q", a.GetName())
}

// cloneTensor copies a TensorProto so that naming it does not change the
// attribute of the model that was read.
func cloneTensor(t *onnx.TensorProto) *onnx.TensorProto {
	c := &onnx.TensorProto{
		Dims: t.Dims, DataType: t.DataType, Segment: t.Segment, FloatData: t.FloatData,
		Int32Data: t.Int32Data, StringData: t.StringData, Int64Data: t.Int64Data, DocString: t.DocString,
		RawData: t.RawData, ExternalData: t.ExternalData, DataLocation: t.DataLocation,
		DoubleData: t.DoubleData, Uint64Data: t.Uint64Data, MetadataProps: t.MetadataProps,
	}
	return c
}

// densify expands a SparseTensorProto: indices are either [NNZ] linear
// positions or [NNZ, rank] coordinates.
func densify(sp *onnx.SparseTensorProto) (*onnx.TensorProto, error) {
	if sp == nil {
		return nil, fmt.Errorf("sparse_value is empty")
	}
	vals, err := onnxio.ToTensor(sp.GetValues())
	if err != nil {
		return nil, fmt.Errorf("sparse values: %w", err)
	}
	idx, err := onnxio.ToTensor(sp.GetIndices())
	if err != nil {
		return nil, fmt.Errorf("sparse indices: %w", err)
	}
	ix, ok := idx.Data.([]int64)
	if !ok {
		return nil, fmt.Errorf("sparse indices are %v, want int64", idx.DType)
	}
	if vals.DType == tensor.Int4 || vals.DType == tensor.Uint4 || vals.DType == tensor.Float4E2M1 {
		return nil, fmt.Errorf("sparse %v values are not supported", vals.DType)
	}
	shape := make([]int, len(sp.GetDims()))
	for i, d := range sp.GetDims() {
		shape[i] = int(d)
	}
	dense := tensor.New(vals.DType, shape...)
	total := tensor.NumElements(shape)
	nnz := vals.Len()
	src, dst := reflect.ValueOf(vals.Data), reflect.ValueOf(dense.Data)
	coords := len(idx.Shape) == 2
	if !(len(idx.Shape) == 1 && idx.Shape[0] == nnz) && !(coords && idx.Shape[0] == nnz && idx.Shape[1] == len(shape)) {
		return nil, fmt.Errorf("sparse indices shape %v does not match %d values of rank %d", idx.Shape, nnz, len(shape))
	}
	for i := 0; i < nnz; i++ {
		pos := int64(0)
		if coords {
			for d := range shape {
				c := ix[i*len(shape)+d]
				if c < 0 || c >= int64(shape[d]) {
					return nil, fmt.Errorf("sparse index %d out of range in dimension %d", c, d)
				}
				pos = pos*int64(shape[d]) + c
			}
		} else {
			pos = ix[i]
		}
		if pos < 0 || pos >= int64(total) {
			return nil, fmt.Errorf("sparse index %d out of range for %d elements", pos, total)
		}
		dst.Index(int(pos)).Set(src.Index(i))
	}
	return onnxio.FromTensor("", dense)
}

// RemoveIdentity removes Identity nodes and Dropout nodes in inference mode
// whose mask is unused, in every graph, by making the consumers read the
// node's input. When the output is a graph output, the node producing the
// input is made to produce the output name instead; when that is not
// possible (the input is a graph input, an initializer, an outer-scope
// value or another output) the node stays.
func RemoveIdentity(m *graph.Model) error {
	for _, g := range graphs(m) {
		for _, n := range append([]*graph.Node(nil), g.Nodes...) {
			if !isDefault(n) || !passThrough(n) {
				continue
			}
			in, out := n.Inputs[0], n.Outputs[0]
			if in == nil || out == nil {
				continue
			}
			if !g.IsOutput(out) {
				graph.ReplaceUses(out, in)
				g.RemoveNode(n)
				continue
			}
			if in.Producer == nil || in.Producer.Graph != g || g.IsOutput(in) || len(in.Consumers) != 1 {
				continue
			}
			g.RemoveNode(n)
			if err := g.Merge(in, out); err != nil {
				return fmt.Errorf("node %s: %w", n, err)
			}
		}
	}
	return nil
}

// passThrough reports whether n copies its first input to its only used
// output: Identity, or Dropout not in training mode with its mask unused.
func passThrough(n *graph.Node) bool {
	switch n.OpType {
	case "Identity":
		return len(n.Inputs) == 1 && len(n.Outputs) == 1
	case "Dropout":
		if len(n.Inputs) == 0 || len(n.Outputs) == 0 {
			return false
		}
		for _, o := range n.Outputs[1:] {
			if o != nil && (len(o.Consumers) > 0 || n.Graph.IsOutput(o)) {
				return false
			}
		}
		// A constant ratio of 0 copies the input even in training mode
		// (torchvision's Swin exports its attention dropout that way).
		if len(n.Inputs) > 1 && n.Inputs[1] != nil && n.Inputs[1].Initializer != nil {
			if v, err := onnxio.ToTensor(n.Inputs[1].Initializer); err == nil && v.DType == tensor.Float && len(v.Float32()) == 1 && v.Float32()[0] == 0 {
				return true
			}
		}
		// Opset 12+: training_mode is input 2; absent or a constant false
		// means inference. Before 12, is_test=0 (opset < 7) meant training.
		if len(n.Inputs) > 2 && n.Inputs[2] != nil {
			t := n.Inputs[2].Initializer
			if t == nil {
				return false
			}
			v, err := onnxio.ToTensor(t)
			if err != nil {
				return false
			}
			b, ok := v.Data.([]bool)
			return ok && len(b) == 1 && !b[0]
		}
		return n.AttrInt("is_test", 1) != 0
	}
	return false
}
