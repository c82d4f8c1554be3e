package rewrite

import "github.com/ptq-dev/ptq/graph"

// Kind says how an operator is quantized.
type Kind int

const (
	// Compute ops (Conv, Gemm, MatMul) have their activation inputs and
	// output quantized, weights stored as integers behind DequantizeLinear,
	// and biases stored as int32.
	Compute Kind = iota + 1
	// Passthrough ops move or select values without changing them
	// (Reshape, Transpose, MaxPool, ...). Input and output share one scale
	// and zero point so no requantization happens, and they are quantized
	// only when their input already is.
	Passthrough
	// Arithmetic ops (Add, Mul, Concat, Sigmoid, Softmax, ...) have their
	// inputs and output quantized with their own calibrated ranges.
	Arithmetic
	// Clamp ops (Relu, Clip) right after a quantized op are folded into
	// that op's output range and removed; elsewhere they are Arithmetic.
	Clamp
)

func (k Kind) String() string {
	switch k {
	case Compute:
		return "compute"
	case Passthrough:
		return "passthrough"
	case Arithmetic:
		return "arithmetic"
	case Clamp:
		return "clamp"
	}
	return "unknown"
}

// Rule says how one operator type is quantized.
type Rule struct {
	Kind Kind

	// Activations are the input indices quantized as activations (with
	// calibrated ranges). For Passthrough ops this is the data input.
	// Variadic ops use -1 to mean every input.
	Activations []int

	// Weight is the input index of the weight when it is constant, or -1.
	Weight int

	// WeightAxis returns the per-channel axis of the weight for node n
	// whose weight has the given rank.
	WeightAxis func(n *graph.Node, rank int) int

	// Bias is the input index of a bias quantized to int32 with scale
	// input scale x weight scale, or -1.
	Bias int

	// Outputs are the output indices quantized (usually just 0).
	Outputs []int

	// Applies, when set, refines whether a node of this type can be
	// quantized; it returns a reason when it cannot.
	Applies func(n *graph.Node) (ok bool, reason string)

	// InputsQuantized makes the op quantized only when every non-constant
	// input already is (produced by a quantized op): a residual Add in a
	// transformer stays float, where quantizing it costs accuracy for no
	// fused kernel, while the Adds of a CNN's residual blocks, fed by
	// quantized convolutions, are quantized.
	InputsQuantized bool

	// Optional marks ops that ONNX Runtime can run quantized only through
	// QDQ fusions that not every build has; they are quantized unless the
	// user restricts op types.
	Optional bool
}

func axis0(*graph.Node, int) int { return 0 }

func axis1(*graph.Node, int) int { return 1 }

func lastAxis(_ *graph.Node, rank int) int { return rank - 1 }

func gemmAxis(n *graph.Node, _ int) int {
	// B is (K, N) unless transB, when it is (N, K); channels are N.
	if n.AttrInt("transB", 0) != 0 {
		return 0
	}
	return 1
}

// Rules is the registry of quantizable operator types, one entry per op
// type, after ONNX Runtime's QDQ quantizer registry. Ops not listed stay
// in float.
var Rules = map[string]Rule{
	"Conv":          {Kind: Compute, Activations: []int{0}, Weight: 1, WeightAxis: axis0, Bias: 2, Outputs: []int{0}},
	"ConvTranspose": {Kind: Compute, Activations: []int{0}, Weight: 1, WeightAxis: axis1, Bias: 2, Outputs: []int{0}},
	"Gemm":          {Kind: Compute, Activations: []int{0}, Weight: 1, WeightAxis: gemmAxis, Bias: 2, Outputs: []int{0}, Applies: gemmApplies},
	// MatMul's second input is a weight when constant, else a second activation.
	"MatMul": {Kind: Compute, Activations: []int{0, 1}, Weight: 1, WeightAxis: lastAxis, Bias: -1, Outputs: []int{0}},

	"Relu": {Kind: Clamp, Activations: []int{0}, Weight: -1, Bias: -1, Outputs: []int{0}},
	"Clip": {Kind: Clamp, Activations: []int{0}, Weight: -1, Bias: -1, Outputs: []int{0}},

	"Reshape":      passthrough(),
	"Transpose":    passthrough(),
	"Flatten":      passthrough(),
	"Squeeze":      passthrough(),
	"Unsqueeze":    passthrough(),
	"Slice":        passthrough(),
	"Gather":       passthrough(),
	"MaxPool":      {Kind: Passthrough, Activations: []int{0}, Weight: -1, Bias: -1, Outputs: []int{0}, Applies: maxPoolApplies},
	"Resize":       {Kind: Passthrough, Activations: []int{0}, Weight: -1, Bias: -1, Outputs: []int{0}, Applies: resizeNearest},
	"Pad":          {Kind: Passthrough, Activations: []int{0}, Weight: -1, Bias: -1, Outputs: []int{0}, Applies: padZero},
	"DepthToSpace": passthrough(),
	"SpaceToDepth": passthrough(),
	"Split":        {Kind: Passthrough, Activations: []int{0}, Weight: -1, Bias: -1, Outputs: []int{-1}},

	"Add":               joining(arithmetic(0, 1)),
	"Mul":               joining(arithmetic(0, 1)),
	"Concat":            arithmetic(-1),
	"AveragePool":       arithmetic(0),
	"GlobalAveragePool": arithmetic(0),
	"Sigmoid":           arithmetic(0),
	"HardSigmoid":       arithmetic(0),
	"LeakyRelu":         arithmetic(0),
	"HardSwish":         optional(arithmetic(0)),
	"Softmax":           optional(arithmetic(0)),
	"Gelu":              optional(arithmetic(0)),
	"LayerNormalization": {Kind: Arithmetic, Activations: []int{0}, Weight: -1, Bias: -1, Outputs: []int{0},
		Optional: true},
}

func passthrough() Rule {
	return Rule{Kind: Passthrough, Activations: []int{0}, Weight: -1, Bias: -1, Outputs: []int{0}}
}

func arithmetic(inputs ...int) Rule {
	return Rule{Kind: Arithmetic, Activations: inputs, Weight: -1, Bias: -1, Outputs: []int{0}}
}

func joining(r Rule) Rule {
	r.InputsQuantized = true
	return r
}

func optional(r Rule) Rule {
	r.Optional = true
	return r
}

func gemmApplies(n *graph.Node) (bool, string) {
	if n.AttrInt("transA", 0) != 0 {
		return false, "Gemm with transA is not fused by ONNX Runtime"
	}
	return true, ""
}

func maxPoolApplies(n *graph.Node) (bool, string) {
	if len(n.Outputs) > 1 && n.Outputs[1] != nil {
		return false, "MaxPool with an Indices output"
	}
	return true, ""
}

func resizeNearest(n *graph.Node) (bool, string) {
	if m := n.AttrString("mode", "nearest"); m != "nearest" {
		return false, "Resize mode " + m + " changes values"
	}
	return true, ""
}

func padZero(n *graph.Node) (bool, string) {
	if m := n.AttrString("mode", "constant"); m != "constant" {
		return true, "" // reflect/edge copy existing values: still order-preserving
	}
	// A constant pad value other than zero would need to be representable;
	// the value input is checked when scales are chosen.
	return true, ""
}
