package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

func inspectCmd() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "describe a model: opsets, inputs and outputs, operators, parameters, quantizable nodes",
		ArgsUsage: "MODEL",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of text"},
		},
		Action: inspectAction,
	}
}

// inspection is what `ptq inspect --json` prints; the README documents each
// field.
type inspection struct {
	Path         string              `json:"path"`
	IRVersion    int64               `json:"ir_version"`
	Producer     string              `json:"producer"`
	ProducerVer  string              `json:"producer_version"`
	Opsets       []inspectOpset      `json:"opsets"`
	Inputs       []inspectValue      `json:"inputs"`
	Outputs      []inspectValue      `json:"outputs"`
	Nodes        int                 `json:"nodes"`
	OpTypes      map[string]int      `json:"op_types"`
	Parameters   int64               `json:"parameters"` // elements of initializers and Constant tensors
	ParamBytes   int64               `json:"parameter_bytes"`
	Initializers int                 `json:"initializers"`
	External     []string            `json:"external_data_files"`
	Quantizable  []inspectNode       `json:"quantizable"`
	Unsupported  []engineUnsupported `json:"unsupported"`
}

type inspectOpset struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

type inspectValue struct {
	Name  string `json:"name"`
	Type  string `json:"type"`            // element type ("float32", ...), or the kind for sequences/maps
	Shape []any  `json:"shape,omitempty"` // int for fixed dims, string for symbolic ones, null for unknown
}

type inspectNode struct {
	Node   string `json:"node"`
	OpType string `json:"op_type"`
	Graph  string `json:"graph"`
}

func inspectAction(c *cli.Context) error {
	if err := needArgs(c, 1, "MODEL"); err != nil {
		return err
	}
	path := c.Args().Get(0)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	raw, err := onnxio.LoadBytes(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	mp, m, err := loadChecked(path)
	if err != nil {
		return err
	}
	ins := inspect(path, mp, m)
	if files := onnxio.ExternalFiles(raw); files != nil {
		ins.External = files // else keep [] rather than null
	}
	// Unsupported operators: the engine's own list (inspect_engine.go).
	ins.Unsupported = inspectUnsupported(m)
	if ins.Unsupported == nil {
		ins.Unsupported = []engineUnsupported{} // "unsupported": [] rather than null
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(ins)
	}
	return writeInspection(c.App.Writer, ins)
}

func inspect(path string, mp *onnx.ModelProto, m *graph.Model) *inspection {
	ins := &inspection{
		Path:        path,
		IRVersion:   mp.GetIrVersion(),
		Producer:    mp.GetProducerName(),
		ProducerVer: mp.GetProducerVersion(),
		OpTypes:     map[string]int{},
		External:    []string{},
		Quantizable: []inspectNode{},
	}
	for _, o := range mp.GetOpsetImport() {
		ins.Opsets = append(ins.Opsets, inspectOpset{Domain: o.GetDomain(), Version: o.GetVersion()})
	}
	inits := map[*graph.Value]bool{}
	for _, v := range m.Graph.Initializers() {
		inits[v] = true
	}
	for _, v := range m.Graph.Inputs {
		if !inits[v] {
			ins.Inputs = append(ins.Inputs, describeValue(v.Name, v.Type))
		}
	}
	for _, v := range m.Graph.Outputs {
		ins.Outputs = append(ins.Outputs, describeValue(v.Name, v.Type))
	}
	m.Graph.Walk(func(g *graph.Graph) error {
		for _, v := range g.Initializers() {
			n, b := tensorSize(v.Initializer)
			ins.Parameters += n
			ins.ParamBytes += b
			ins.Initializers++
		}
		for _, n := range g.Nodes {
			op := n.OpType
			if n.Domain != "" && n.Domain != "ai.onnx" {
				op = n.Domain + "." + op
			}
			ins.OpTypes[op]++
			ins.Nodes++
			if t := n.AttrTensor("value"); n.OpType == "Constant" && t != nil {
				// Exporters such as paddle2onnx keep weights in Constant nodes.
				e, b := tensorSize(t)
				ins.Parameters += e
				ins.ParamBytes += b
			}
			if quantizable(n) {
				name := n.Name
				if name == "" {
					name = n.String()
				}
				ins.Quantizable = append(ins.Quantizable, inspectNode{Node: name, OpType: n.OpType, Graph: g.Name})
			}
		}
		return nil
	})
	return ins
}

// quantizable reports whether `ptq quantize` would consider n: its op type
// has a rule in the rewriter's registry and the rule's refinement, if any,
// accepts the node.
func quantizable(n *graph.Node) bool {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return false
	}
	r, ok := rewrite.Rules[n.OpType]
	if !ok {
		return false
	}
	if r.Applies != nil {
		ok, _ = r.Applies(n)
	}
	return ok
}

// tensorSize returns the element count and the bytes of data of an
// initializer.
func tensorSize(t *onnx.TensorProto) (elems, bytes int64) {
	elems = 1
	for _, d := range t.GetDims() {
		elems *= d
	}
	dt := tensor.DType(t.GetDataType())
	switch dt {
	case tensor.String:
		for _, s := range t.GetStringData() {
			bytes += int64(len(s))
		}
		return elems, bytes
	case tensor.Int4, tensor.Uint4:
		return elems, (elems + 1) / 2
	}
	if len(t.GetRawData()) > 0 {
		return elems, int64(len(t.GetRawData()))
	}
	return elems, elems * int64(elemBytes(dt))
}

func elemBytes(dt tensor.DType) int {
	switch dt {
	case tensor.Double, tensor.Int64, tensor.Uint64, tensor.Complex64:
		return 8
	case tensor.Complex128:
		return 16
	case tensor.Float, tensor.Int32, tensor.Uint32:
		return 4
	case tensor.Float16, tensor.BFloat16, tensor.Int16, tensor.Uint16:
		return 2
	}
	return 1
}

func describeValue(name string, t *onnx.TypeProto) inspectValue {
	iv := inspectValue{Name: name, Type: "unknown"}
	switch {
	case t.GetTensorType() != nil:
		tt := t.GetTensorType()
		iv.Type = tensor.DType(tt.GetElemType()).String()
		if tt.GetShape() != nil {
			iv.Shape = []any{}
			for _, d := range tt.GetShape().GetDim() {
				_, fixed := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue)
				switch {
				case fixed:
					iv.Shape = append(iv.Shape, d.GetDimValue())
				case d.GetDimParam() != "":
					iv.Shape = append(iv.Shape, d.GetDimParam())
				default:
					iv.Shape = append(iv.Shape, nil)
				}
			}
		}
	case t.GetSequenceType() != nil:
		iv.Type = "sequence"
	case t.GetMapType() != nil:
		iv.Type = "map"
	case t.GetOptionalType() != nil:
		iv.Type = "optional"
	case t.GetSparseTensorType() != nil:
		iv.Type = "sparse " + tensor.DType(t.GetSparseTensorType().GetElemType()).String()
	}
	return iv
}

func (v inspectValue) String() string {
	if v.Shape == nil {
		return fmt.Sprintf("%s: %s", v.Name, v.Type)
	}
	dims := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		if d == nil {
			dims[i] = "?"
		} else {
			dims[i] = fmt.Sprint(d)
		}
	}
	return fmt.Sprintf("%s: %s[%s]", v.Name, v.Type, strings.Join(dims, ","))
}

func writeInspection(w io.Writer, ins *inspection) error {
	fmt.Fprintf(w, "model:      %s\n", ins.Path)
	fmt.Fprintf(w, "ir_version: %d\n", ins.IRVersion)
	fmt.Fprintf(w, "producer:   %s %s\n", ins.Producer, ins.ProducerVer)
	var ops []string
	for _, o := range ins.Opsets {
		d := o.Domain
		if d == "" {
			d = "ai.onnx"
		}
		ops = append(ops, fmt.Sprintf("%s %d", d, o.Version))
	}
	fmt.Fprintf(w, "opsets:     %s\n", strings.Join(ops, ", "))
	fmt.Fprintln(w, "inputs:")
	for _, v := range ins.Inputs {
		fmt.Fprintf(w, "  %s\n", v)
	}
	fmt.Fprintln(w, "outputs:")
	for _, v := range ins.Outputs {
		fmt.Fprintf(w, "  %s\n", v)
	}
	fmt.Fprintf(w, "parameters: %d in %d initializers (%d bytes)\n", ins.Parameters, ins.Initializers, ins.ParamBytes)
	if len(ins.External) > 0 {
		fmt.Fprintf(w, "external data: %s\n", strings.Join(ins.External, ", "))
	}
	names := make([]string, 0, len(ins.OpTypes))
	for op := range ins.OpTypes {
		names = append(names, op)
	}
	sort.Slice(names, func(i, j int) bool {
		if ins.OpTypes[names[i]] != ins.OpTypes[names[j]] {
			return ins.OpTypes[names[i]] > ins.OpTypes[names[j]]
		}
		return names[i] < names[j]
	})
	fmt.Fprintf(w, "nodes: %d\n", ins.Nodes)
	for _, op := range names {
		fmt.Fprintf(w, "  %-24s %d\n", op, ins.OpTypes[op])
	}
	byOp := map[string]int{}
	for _, q := range ins.Quantizable {
		byOp[q.OpType]++
	}
	var qs []string
	for op, n := range byOp {
		qs = append(qs, fmt.Sprintf("%s %d", op, n))
	}
	sort.Strings(qs)
	fmt.Fprintf(w, "quantizable: %d node(s): %s\n", len(ins.Quantizable), strings.Join(qs, ", "))
	return writeUnsupported(w, ins.Unsupported)
}
