// Package rewrite turns a float graph into a quantized one: an ordered list
// of named graph passes that prepare the model (constant folding, BatchNorm
// folding, opset upgrade), a registry of per-operator quantization rules,
// and the insertion of QuantizeLinear/DequantizeLinear pairs with the
// scales and zero points chosen by calibration.
package rewrite

import (
	"fmt"

	"github.com/ptq-dev/ptq/graph"
)

// Pass is one named graph transformation. Passes run in a fixed order, as
// the Go compiler's SSA passes do, and each can be switched off by name.
type Pass struct {
	Name string
	Run  func(m *graph.Model) error
}

// RunPasses applies the passes in order, skipping those named in skip.
// The error names the pass that failed.
func RunPasses(m *graph.Model, passes []Pass, skip map[string]bool) error {
	for _, p := range passes {
		if skip[p.Name] {
			continue
		}
		if err := p.Run(m); err != nil {
			return fmt.Errorf("pass %s: %w", p.Name, err)
		}
	}
	return nil
}
