// Package kernels is ptq's ONNX interpreter: float and quantized operators,
// and the Engine that plans a graph once and runs it many times, showing every
// produced tensor to a hook so calibration can observe without keeping anything.
package kernels

import (
	"fmt"
	"sort"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels/sgemm"
	"github.com/ptq-dev/ptq/tensor"
)

// Op is one node's operator, built once when the engine plans the graph
// (attributes parsed, weights prepared) and run for every sample.
//
// in holds one tensor per node input, nil where an optional input is absent.
// Run returns one tensor per node output; nil is allowed for an optional
// output that is not produced. Run must not modify its inputs.
type Op interface {
	Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error)
}

// OpFunc adapts an ordinary function to Op.
type OpFunc func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error)

// Run calls f.
func (f OpFunc) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return f(ctx, in)
}

// Builder makes the Op for node n; opset is the version of the node's domain
// that the model imports, so a builder can pick the semantics of that version.
type Builder func(n *graph.Node, opset int) (Op, error)

// Context is what an Op may use while it runs.
type Context struct {
	// Threads is how many goroutines an op may use; 1 means run inline.
	Threads int

	// RunSubgraph runs a subgraph (an If branch, a Loop or Scan body) with
	// the given inputs, resolving outer-scope names through the running
	// graph. Set by the Engine.
	RunSubgraph func(g *graph.Graph, inputs []*tensor.Tensor) ([]*tensor.Tensor, error)

	// alloc, set by the Engine, hands out recycled buffers, zeroed unless
	// zero is false; see engine_pool.go.
	alloc func(dt tensor.DType, shape []int, zero bool) *tensor.Tensor

	// free, set by the Engine, takes back a tensor an op allocated and
	// no longer needs (an intermediate of its own, never an output).
	free func(t *tensor.Tensor)
}

// NewTensor allocates a zeroed output tensor. Ops allocate through it so
// that the engine can recycle the buffers of dead tensors.
func (c *Context) NewTensor(dt tensor.DType, shape ...int) *tensor.Tensor {
	if c != nil && c.alloc != nil {
		return c.alloc(dt, shape, true)
	}
	return tensor.New(dt, shape...)
}

// newTensorFull allocates an output tensor the op will overwrite entirely:
// a recycled buffer is handed out with its old contents, saving a pass
// over memory (several percent of a mobile network's time).
func (c *Context) newTensorFull(dt tensor.DType, shape ...int) *tensor.Tensor {
	if c != nil && c.alloc != nil {
		return c.alloc(dt, shape, false)
	}
	return tensor.New(dt, shape...)
}

// Parallel splits [0, n) into at most c.Threads contiguous chunks and runs
// fn on each, waiting for all. Chunks are whole multiples of grain (except
// the last) so tiny loops stay on one goroutine. It shares the GEMM's
// spinning helpers: starting a goroutine per call costs a wake-up (about
// 100 µs on a virtual machine), which is the whole budget of a small op.
func (c *Context) Parallel(n, grain int, fn func(lo, hi int)) {
	t := 1
	if c != nil && c.Threads > 1 {
		t = c.Threads
	}
	sgemm.Parallel(n, grain, t, fn)
}

type opKey struct{ domain, opType string }

type versioned struct {
	since   int
	builder Builder
}

// registry maps (domain, op type) to builders sorted by since-version. It is
// filled by init functions in this package and read-only afterwards.
var registry = map[opKey][]versioned{}

// register adds a default-domain operator valid from opset version since.
func register(opType string, since int, b Builder) { registerDomain("", opType, since, b) }

func registerDomain(domain, opType string, since int, b Builder) {
	k := opKey{normDomain(domain), opType}
	vs := append(registry[k], versioned{since, b})
	sort.Slice(vs, func(i, j int) bool { return vs[i].since < vs[j].since })
	registry[k] = vs
}

func normDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// Lookup returns the builder for an operator at an opset version: the one
// with the highest since-version not above opset.
func Lookup(domain, opType string, opset int) (Builder, bool) {
	vs := registry[opKey{normDomain(domain), opType}]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].since <= opset {
			return vs[i].builder, true
		}
	}
	return nil, false
}

// Supported reports whether the engine can run the operator at that opset.
func Supported(domain, opType string, opset int) bool {
	_, ok := Lookup(domain, opType, opset)
	return ok
}

// Build makes the Op for a node, or an error naming the node when the
// operator is unsupported.
func Build(n *graph.Node, opset int) (Op, error) {
	b, ok := Lookup(n.Domain, n.OpType, opset)
	if !ok {
		return nil, fmt.Errorf("node %s: unsupported operator %s (domain %q, opset %d)", n, n.OpType, n.Domain, opset)
	}
	op, err := b(n, opset)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n, err)
	}
	return op, nil
}
