package kernels

import (
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// TestEngineSteadyStateAllocs checks that repeated runs reuse their
// buffers: resnet18 goes through Winograd (both variants), the implicit
// GEMM and the packed panels, whose per-call scratch once escaped to the
// heap (18,400 allocations a run, now about 500).
func TestEngineSteadyStateAllocs(t *testing.T) {
	mp, err := onnxio.Load(oracle.TorchvisionModel(t, "resnet18"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		e, err := NewEngine(m, Options{Threads: threads, Fuse: true})
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]*tensor.Tensor{m.Graph.Inputs[0].Name: tensor.New(tensor.Float, 1, 3, 224, 224)}
		run := func() {
			if _, err := e.Run(in, nil); err != nil {
				t.Fatal(err)
			}
		}
		run() // prepares weights and fills the pools
		if n := testing.AllocsPerRun(5, run); n > 2000 {
			t.Errorf("%d threads: %.0f allocations per run, want at most 2000", threads, n)
		}
	}
}
