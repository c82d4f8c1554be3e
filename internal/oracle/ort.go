package oracle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/ptq-dev/ptq/tensor"
)

// ORTOptions configures an ONNX Runtime session.
type ORTOptions struct {
	// Threads is the intra-op thread count; 0 means 1 so results and
	// timings do not depend on the machine.
	Threads int
	// OptLevel is the graph optimisation level: "all" (the default when
	// empty), "extended", "basic" or "disabled".
	OptLevel string
	// OptimizedModel, if set, is where ONNX Runtime saves the graph it
	// actually runs (after fusions), so a test can check that a QDQ
	// pattern became QLinearConv and friends.
	OptimizedModel string
}

// ORT runs model once in ONNX Runtime and returns its outputs by name.
func ORT(model string, inputs map[string]*tensor.Tensor, opts ORTOptions) (map[string]*tensor.Tensor, error) {
	out, err := ORTBatch(model, []map[string]*tensor.Tensor{inputs}, opts)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ORTBatch runs model on every input set in turn through one ONNX Runtime
// session (one node process), and returns the outputs of each set in order.
func ORTBatch(model string, samples []map[string]*tensor.Tensor, opts ORTOptions) ([]map[string]*tensor.Tensor, error) {
	if err := Available(ORTOracle); err != nil {
		return nil, fmt.Errorf("onnx runtime: %w (run bash scripts/setup-oracles.sh)", err)
	}
	model, err := filepath.Abs(model)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ptq-ort-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	type jobSample struct {
		Inputs map[string]string `json:"inputs"`
		OutDir string            `json:"out_dir"`
	}
	job := struct {
		Model          string      `json:"model"`
		Threads        int         `json:"threads"`
		OptLevel       string      `json:"opt_level"`
		OptimizedModel string      `json:"optimized_model,omitempty"`
		Result         string      `json:"result"`
		Samples        []jobSample `json:"samples"`
	}{Model: model, Threads: opts.Threads, OptLevel: opts.OptLevel, Result: "result.json"}
	if job.OptLevel == "" {
		job.OptLevel = "all"
	}
	if opts.OptimizedModel != "" {
		if job.OptimizedModel, err = filepath.Abs(opts.OptimizedModel); err != nil {
			return nil, err
		}
	}
	for i, in := range samples {
		s := jobSample{Inputs: map[string]string{}, OutDir: filepath.Join("out", strconv.Itoa(i))}
		inDir := filepath.Join(dir, "in", strconv.Itoa(i))
		if err := os.MkdirAll(inDir, 0o755); err != nil {
			return nil, err
		}
		k := 0
		for name, t := range in {
			file := filepath.Join("in", strconv.Itoa(i), strconv.Itoa(k)+".npy")
			k++
			if err := WriteNPY(filepath.Join(dir, file), t); err != nil {
				return nil, fmt.Errorf("sample %d input %q: %w", i, name, err)
			}
			s.Inputs[name] = file
		}
		job.Samples = append(job.Samples, s)
	}
	jb, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	jobPath := filepath.Join(dir, "job.json")
	if err := os.WriteFile(jobPath, jb, 0o644); err != nil {
		return nil, err
	}

	cmd := exec.Command("node", filepath.Join(RepoRoot(), "tools", "ort", "run.mjs"), jobPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("onnx runtime on %s: %v: %s", model, err, bytes.TrimSpace(stderr.Bytes()))
	}

	var result struct {
		Samples []struct {
			Outputs map[string]string `json:"outputs"`
		} `json:"samples"`
	}
	rb, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return nil, fmt.Errorf("onnx runtime on %s: %w", model, err)
	}
	if err := json.Unmarshal(rb, &result); err != nil {
		return nil, fmt.Errorf("onnx runtime on %s: result: %w", model, err)
	}
	if len(result.Samples) != len(samples) {
		return nil, fmt.Errorf("onnx runtime on %s: %d results for %d samples", model, len(result.Samples), len(samples))
	}
	outs := make([]map[string]*tensor.Tensor, len(samples))
	for i, s := range result.Samples {
		outs[i] = map[string]*tensor.Tensor{}
		for name, file := range s.Outputs {
			t, err := ReadNPY(file)
			if err != nil {
				return nil, fmt.Errorf("onnx runtime on %s: sample %d output %q: %w", model, i, name, err)
			}
			outs[i][name] = t
		}
	}
	return outs, nil
}
