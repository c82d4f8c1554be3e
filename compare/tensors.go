package compare

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/ptq-dev/ptq/dataset"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// Tensor kinds of a Pair.
const (
	Activation = "activation"
	Weight     = "weight"
)

// A Pair is one quantized tensor of a QDQ model: the float tensor before
// quantization and its dequantized replacement, and the same tensor in the
// float model when one has the name.
type Pair struct {
	Name    string // the tensor's name in the quantized model
	Kind    string // Activation or Weight
	Ref     string // value of the float model ("" when it has none by that name)
	Quant   string // float input of the QuantizeLinear ("" for stored integer weights)
	Dequant string // output of the DequantizeLinear
	// Clamped is set when the float model applies a Relu or Clip to the
	// tensor that the quantized model folded into the quantization range:
	// Ref is then the activation's output, and the local error is measured
	// against Quant clamped to [Lo, Hi].
	Clamped bool
	Lo, Hi  float32
}

// Match finds the quantized tensors of quant's main graph: every
// QuantizeLinear -> DequantizeLinear pair, and every DequantizeLinear of an
// integer initializer. A pair is matched to float's tensor of the same name;
// an integer initializer W_quantized (the ONNX Runtime and ptq naming) is
// matched to the float initializer W.
func Match(float, quant *graph.Graph) []Pair {
	var out []Pair
	seen := map[string]bool{}
	refOf := func(name string) string {
		if float != nil && float.Value(name) != nil {
			return name
		}
		return ""
	}
	for _, n := range quant.Nodes {
		switch n.OpType {
		case "QuantizeLinear":
			if len(n.Inputs) == 0 || n.Inputs[0] == nil || len(n.Outputs) == 0 || n.Outputs[0] == nil {
				continue
			}
			var dq *graph.Node
			for _, c := range n.Outputs[0].Consumers {
				if c.OpType == "DequantizeLinear" && len(c.Inputs) > 0 && c.Inputs[0] == n.Outputs[0] && len(c.Outputs) > 0 && c.Outputs[0] != nil {
					dq = c
					break
				}
			}
			x := n.Inputs[0]
			if dq == nil || seen[x.Name] {
				continue
			}
			seen[x.Name] = true
			kind := Activation
			if x.Initializer != nil {
				kind = Weight
			}
			p := Pair{Name: x.Name, Kind: kind, Ref: refOf(x.Name), Quant: x.Name, Dequant: dq.Outputs[0].Name}
			if p.Ref == "" {
				// A graph output keeps its name on the DequantizeLinear
				// (ptq renames the float tensor to NAME_float).
				p.Ref = refOf(p.Dequant)
			}
			if r, lo, hi := foldedClamp(float, x, dq.Outputs[0]); r != "" {
				p.Ref, p.Clamped, p.Lo, p.Hi = r, true, lo, hi
			}
			out = append(out, p)
		case "DequantizeLinear":
			if len(n.Inputs) == 0 || n.Inputs[0] == nil || n.Inputs[0].Initializer == nil || len(n.Outputs) == 0 || n.Outputs[0] == nil {
				continue
			}
			w := n.Inputs[0].Name
			base := strings.TrimSuffix(w, "_quantized")
			if seen[base] {
				continue
			}
			seen[base] = true
			ref := ""
			if float != nil {
				if v := float.Value(base); v != nil && v.Initializer != nil {
					ref = base
				}
			}
			out = append(out, Pair{Name: base, Kind: Weight, Ref: ref, Dequant: n.Outputs[0].Name})
		}
	}
	return out
}

// foldedClamp finds the Relu or Clip that float applies to x when the
// quantized model has none reading x or its dequantized form deq (it was
// folded into the quantization range). It returns the activation's output
// and its bounds, or "" when there is none.
func foldedClamp(float *graph.Graph, x, deq *graph.Value) (string, float32, float32) {
	inf := float32(math.Inf(1))
	for _, c := range append(append([]*graph.Node(nil), x.Consumers...), deq.Consumers...) {
		if c.OpType == "Relu" || c.OpType == "Clip" {
			return "", 0, 0
		}
	}
	if float == nil {
		return "", 0, 0
	}
	fv := float.Value(x.Name)
	if fv == nil || len(fv.Consumers) != 1 {
		return "", 0, 0
	}
	c := fv.Consumers[0]
	if len(c.Outputs) == 0 || c.Outputs[0] == nil {
		return "", 0, 0
	}
	switch c.OpType {
	case "Relu":
		return c.Outputs[0].Name, 0, inf
	case "Clip":
		lo, hi := -inf, inf
		if len(c.Inputs) == 1 { // opset < 11: bounds are attributes
			lo, hi = c.AttrFloat("min", lo), c.AttrFloat("max", hi)
		}
		for i, b := range []*float32{&lo, &hi} {
			if len(c.Inputs) > i+1 && c.Inputs[i+1] != nil {
				v, ok := scalarOf(c.Inputs[i+1])
				if !ok {
					return "", 0, 0
				}
				*b = v
			}
		}
		return c.Outputs[0].Name, lo, hi
	}
	return "", 0, 0
}

// scalarOf reads a constant float scalar: an initializer or a Constant's output.
func scalarOf(v *graph.Value) (float32, bool) {
	tp := v.Initializer
	if tp == nil && v.Producer != nil && v.Producer.OpType == "Constant" {
		tp = v.Producer.AttrTensor("value")
	}
	if tp == nil {
		return 0, false
	}
	t, err := onnxio.ToTensor(tp)
	if err != nil || t.DType != tensor.Float || t.Len() != 1 {
		return 0, false
	}
	return t.Float32()[0], true
}

// TensorReport is the quantization error of one quantized tensor.
type TensorReport struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Ref is the float model's tensor compared with ("" when none): the
	// same name, or the output of a Relu folded into the range.
	Ref string `json:"float_tensor,omitempty"`
	// SQNR compares the float model's tensor with the quantized model's
	// dequantized one: the error accumulated up to this point. NaN when the
	// float model has no tensor of that name.
	SQNR   float64 `json:"sqnr_db"`
	Cosine float64 `json:"cosine"`
	MaxAbs float64 `json:"max_abs_error"`
	// LocalSQNR compares, inside the quantized model, the tensor before
	// QuantizeLinear with its DequantizeLinear output: the error this one
	// quantization adds. NaN for stored integer weights.
	LocalSQNR float64 `json:"local_sqnr_db"`
}

// Worst is the figure tensors are ranked by: SQNR when known, else LocalSQNR.
func (t TensorReport) Worst() float64 {
	if !math.IsNaN(t.SQNR) {
		return t.SQNR
	}
	return t.LocalSQNR
}

// Detailed is a comparison of outputs and of every quantized tensor.
type Detailed struct {
	*Report
	Tensors []TensorReport `json:"tensors"` // worst first
}

// Tensors compares ref (the float model) and test (its QDQ form) like
// Models, and also every quantized tensor that Match finds, through the
// engines' hooks. Only one batch's tensors are held at a time.
func Tensors(refModel, testModel *graph.Model, ref, test *kernels.Engine, data dataset.Reader, labels []int64) (*Detailed, error) {
	pairs := Match(refModel.Graph, testModel.Graph)
	cum := map[string]*Stats{}   // by pair name: float model vs dequantized
	local := map[string]*Stats{} // by pair name: quantizer input vs dequantized
	byRef := map[string][]int{}
	byQuant := map[string][]int{}
	byDequant := map[string][]int{}
	for i, p := range pairs {
		cum[p.Name] = &Stats{Name: p.Name}
		local[p.Name] = &Stats{Name: p.Name}
		if p.Kind == Activation {
			if p.Ref != "" {
				byRef[p.Ref] = append(byRef[p.Ref], i)
			}
			byQuant[p.Quant] = append(byQuant[p.Quant], i)
		}
		byDequant[p.Dequant] = append(byDequant[p.Dequant], i)
	}
	weightsDone := map[string]bool{}
	outs := newOutputs(ref, labels)
	for {
		batch, err := data.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		refVals := map[string]*tensor.Tensor{}
		keep := func(dst map[string]*tensor.Tensor, name string, t *tensor.Tensor) {
			if t.DType == tensor.Float {
				dst[name] = &tensor.Tensor{DType: t.DType, Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Float32()...)}
			}
		}
		for name, t := range batch {
			if len(byRef[name]) > 0 {
				refVals[name] = t
			}
		}
		ro, err := ref.Run(batch, func(name string, _ *graph.Node, t *tensor.Tensor) error {
			if len(byRef[name]) > 0 {
				keep(refVals, name, t)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reference model: %w", err)
		}
		quantIn := map[string]*tensor.Tensor{}
		for name, t := range batch {
			quantIn[name] = t
		}
		to, err := test.Run(batch, func(name string, _ *graph.Node, t *tensor.Tensor) error {
			if is := byQuant[name]; len(is) > 0 {
				keep(quantIn, name, t)
				if p := pairs[is[0]]; p.Clamped && quantIn[name] != nil {
					for i, v := range quantIn[name].Float32() {
						quantIn[name].Float32()[i] = min(max(v, p.Lo), p.Hi)
					}
				}
			}
			for _, i := range byDequant[name] {
				p := pairs[i]
				if t.DType != tensor.Float {
					continue
				}
				if p.Kind == Weight {
					if weightsDone[p.Name] {
						continue
					}
					weightsDone[p.Name] = true
					if err := addWeight(refModel.Graph, p.Ref, t, cum[p.Name]); err != nil {
						return err
					}
					if p.Quant != "" {
						if err := addWeight(testModel.Graph, p.Quant, t, local[p.Name]); err != nil {
							return err
						}
					}
					continue
				}
				if r := refVals[p.Ref]; r != nil && r.Len() == t.Len() {
					if err := cum[p.Name].Add(r, t); err != nil {
						return err
					}
				}
				if q := quantIn[p.Quant]; q != nil && q.DType == tensor.Float && q.Len() == t.Len() {
					if err := local[p.Name].Add(q, t); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("test model: %w", err)
		}
		if err := outs.add(ro, to, batchLen(batch)); err != nil {
			return nil, err
		}
	}
	rep, err := outs.report()
	if err != nil {
		return nil, err
	}
	d := &Detailed{Report: rep}
	for _, p := range pairs {
		c, l := cum[p.Name], local[p.Name]
		if c.elements == 0 && l.elements == 0 {
			continue
		}
		tr := TensorReport{Name: p.Name, Kind: p.Kind, Ref: p.Ref, SQNR: math.NaN(), Cosine: math.NaN(), MaxAbs: math.NaN(), LocalSQNR: math.NaN()}
		if c.elements > 0 {
			tr.SQNR, tr.Cosine, tr.MaxAbs = c.SQNR(), c.Cosine(), c.MaxAbs()
		}
		if l.elements > 0 {
			tr.LocalSQNR = l.SQNR()
		}
		d.Tensors = append(d.Tensors, tr)
	}
	SortWorstFirst(d.Tensors)
	return d, nil
}

// SortWorstFirst orders tensors by Worst, lowest first; ties by name.
func SortWorstFirst(ts []TensorReport) {
	sort.SliceStable(ts, func(i, j int) bool {
		a, b := ts[i].Worst(), ts[j].Worst()
		if math.IsNaN(a) != math.IsNaN(b) {
			return !math.IsNaN(a)
		}
		if a != b {
			return a < b
		}
		return ts[i].Name < ts[j].Name
	})
}

// addWeight accumulates the float initializer name of g against deq.
func addWeight(g *graph.Graph, name string, deq *tensor.Tensor, s *Stats) error {
	if name == "" {
		return nil
	}
	v := g.Value(name)
	if v == nil || v.Initializer == nil {
		return nil
	}
	w, err := onnxio.ToTensor(v.Initializer)
	if err != nil {
		return fmt.Errorf("weight %q: %w", name, err)
	}
	if w.DType != tensor.Float || w.Len() != deq.Len() {
		return nil
	}
	return s.Add(w, deq)
}
