package oracle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// ORTOpTypes counts the node types of the graph ONNX Runtime actually runs
// for model after its optimisations at opts.OptLevel ("all" when empty),
// keyed by op type whatever the domain (at level "all" ONNX Runtime's fused
// kernels live in com.microsoft: QLinearConv, QLinearAdd, QGemm, ...). A QDQ
// model whose DequantizeLinear -> Conv -> QuantizeLinear groups were fused
// shows "QLinearConv" and few or no DequantizeLinear.
func ORTOpTypes(model string, opts ORTOptions) (map[string]int, error) {
	dir, err := os.MkdirTemp("", "ptq-ortopt-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	opts.OptimizedModel = filepath.Join(dir, "optimized.onnx")
	// An empty run is enough: the session saves the graph when it loads.
	if _, err := ORTBatch(model, nil, opts); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(opts.OptimizedModel)
	if err != nil {
		return nil, fmt.Errorf("onnx runtime did not save the optimised %s: %w", model, err)
	}
	var m onnx.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("optimised %s: %w", model, err)
	}
	counts := map[string]int{}
	for _, n := range m.GetGraph().GetNode() {
		counts[n.GetOpType()]++
	}
	return counts, nil
}

// BenchResult is what tools/ort/bench.mjs reports.
type BenchResult struct {
	MedianMS float64 `json:"median_ms"`
	MinMS    float64 `json:"min_ms"`
	MeanMS   float64 `json:"mean_ms"`
	Iters    int     `json:"iters"`
	Threads  int     `json:"threads"`
}

// ORTBench times model in ONNX Runtime with seeded random inputs of the given
// shapes (symbolic dimensions not listed are 1), after warmup runs.
func ORTBench(model string, shapes map[string][]int, opts ORTOptions, iters, warmup int) (BenchResult, error) {
	var r BenchResult
	if err := Available(ORTOracle); err != nil {
		return r, err
	}
	threads := max(opts.Threads, 1)
	level := opts.OptLevel
	if level == "" {
		level = "all"
	}
	args := []string{filepath.Join(RepoRoot(), "tools", "ort", "bench.mjs"), model,
		"--threads", strconv.Itoa(threads), "--iters", strconv.Itoa(iters),
		"--warmup", strconv.Itoa(warmup), "--opt-level", level}
	for name, dims := range shapes {
		s := make([]string, len(dims))
		for i, d := range dims {
			s[i] = strconv.Itoa(d)
		}
		args = append(args, "--shape", name+"="+strings.Join(s, ","))
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("node", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("onnx runtime bench of %s: %v: %s", model, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return r, fmt.Errorf("onnx runtime bench of %s: %w", model, err)
	}
	return r, nil
}
