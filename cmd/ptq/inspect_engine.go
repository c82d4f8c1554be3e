package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
)

// engineUnsupported is one node the float engine cannot run, as `ptq
// inspect` reports it (the JSON field "unsupported" is a list of these).
type engineUnsupported struct {
	Node   string `json:"node"`
	OpType string `json:"op_type"`
	Domain string `json:"domain,omitempty"`
	Opset  int    `json:"opset"`
}

// inspectUnsupported lists the nodes of m, subgraphs included, that the
// engine cannot run, so that `ptq inspect` shows them before any run fails.
func inspectUnsupported(m *graph.Model) []engineUnsupported {
	var out []engineUnsupported
	for _, n := range kernels.Unsupported(m) {
		name := n.Name
		if name == "" {
			name = n.String()
		}
		out = append(out, engineUnsupported{Node: name, OpType: n.OpType, Domain: n.Domain, Opset: m.Opset(n.Domain)})
	}
	return out
}

// writeUnsupported prints the list for humans: one line per operator with
// its node count and names, or a line saying every operator is supported.
func writeUnsupported(w io.Writer, us []engineUnsupported) error {
	if len(us) == 0 {
		_, err := fmt.Fprintln(w, "engine: every operator is supported")
		return err
	}
	byOp := map[string][]string{}
	for _, u := range us {
		op := u.OpType
		if u.Domain != "" && u.Domain != "ai.onnx" {
			op = u.Domain + "." + op
		}
		op = fmt.Sprintf("%s (opset %d)", op, u.Opset)
		byOp[op] = append(byOp[op], u.Node)
	}
	ops := make([]string, 0, len(byOp))
	for op := range byOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	if _, err := fmt.Fprintf(w, "engine: %d node(s) use unsupported operators:\n", len(us)); err != nil {
		return err
	}
	for _, op := range ops {
		if _, err := fmt.Fprintf(w, "  %s: %d node(s): %s\n", op, len(byOp[op]), strings.Join(byOp[op], ", ")); err != nil {
			return err
		}
	}
	return nil
}
