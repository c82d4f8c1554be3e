package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// runGCPercent is the garbage-collection target of `ptq run` unless GOGC is
// set.
const runGCPercent = 20

func runCmd() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a model on a data set with the float engine and save its outputs as .npy",
		ArgsUsage: "MODEL",
		Description: "Feeds every sample of --data to MODEL and writes each model output to\n" +
			"DIR/<output name>.npy (characters outside A-Za-z0-9_.- replaced by _), samples stacked\n" +
			"on the first axis. Outputs are written as they are produced: memory does not grow\n" +
			"with the number of samples.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Value: ".", Usage: "directory for the output .npy files"},
			&cli.IntFlag{Name: "batch", Value: 1, Usage: "samples per run when the model's batch dimension is symbolic"},
			&cli.IntFlag{Name: "threads", Usage: "goroutines per operator (0: all cores)"},
		}, runDataFlags()...),
		Action: runAction,
	}
}

// runLoadEngine loads and plans a model for observing every tensor it
// produces (calibration, checks); threads 0 means all cores. It returns the
// thread count used.
func runLoadEngine(path string, threads int) (*kernels.Engine, int, error) {
	return runLoadEngineOpts(path, kernels.Options{Threads: threads})
}

// runLoadEngineFused plans a model for inference only: activations are
// fused into the Conv or Gemm before them, so a hook would not see the
// pre-activation tensors.
func runLoadEngineFused(path string, threads int) (*kernels.Engine, int, error) {
	return runLoadEngineOpts(path, kernels.Options{Threads: threads, Fuse: true})
}

func runLoadEngineOpts(path string, opts kernels.Options) (*kernels.Engine, int, error) {
	mp, err := onnxio.Load(path)
	if err != nil {
		return nil, 0, err
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	e, err := kernels.NewEngine(m, opts)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return e, opts.Threads, nil
}

func runAction(c *cli.Context) error {
	if err := needArgs(c, 1, "MODEL"); err != nil {
		return err
	}
	if c.String("data") == "" {
		return usagef("run: --data is required")
	}
	batch := c.Int("batch")
	if batch < 1 {
		return usagef("run: --batch %d, want at least 1", batch)
	}
	e, _, err := runLoadEngineFused(c.Args().First(), c.Int("threads"))
	if err != nil {
		return err
	}
	if batch > 1 && !runSymbolicBatch(e.Inputs()) {
		fmt.Fprintf(c.App.ErrWriter, "run: the model's batch dimension is fixed; feeding one sample at a time\n")
		batch = 1
	}
	// The reader stacks batch samples per Next itself.
	r, err := runOpenData(c, e.Inputs(), batch)
	if err != nil {
		return err
	}
	defer r.Close()
	// The engine recycles its buffers, so a run leaves little garbage per
	// sample; a low collection target keeps the peak near the live set
	// instead of letting that garbage grow to twice it between collections.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(runGCPercent)
	}
	outDir := c.String("out")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	w, err := newRunWriter(outDir, e.Outputs())
	if err != nil {
		return err
	}
	n, err := runFeed(e, r, 1, w)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "ran %d samples; wrote %s\n", n, strings.Join(w.paths(), ", "))
	return nil
}

// runSymbolicBatch reports whether every input's first dimension is symbolic
// (or undeclared), so that several samples can go in one run.
func runSymbolicBatch(specs []kernels.ValueSpec) bool {
	for _, s := range specs {
		if len(s.Shape) == 0 || s.Shape[0] >= 0 {
			return false
		}
	}
	return len(specs) > 0
}

// runSource is the part of dataset.Reader that runFeed uses.
type runSource interface {
	Next() (map[string]*tensor.Tensor, error)
}

// runFeed runs every sample of r through e, joining batch Next results per
// run, and appends the outputs to w. It returns the number of samples (rows
// of the first input dimension) fed.
func runFeed(e *kernels.Engine, r runSource, batch int, w *runWriter) (int, error) {
	total := 0
	pending := make([]map[string]*tensor.Tensor, 0, batch)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		in, err := runConcat(pending, e.Inputs())
		if err != nil {
			return fmt.Errorf("batch from sample %d: %w", total, err)
		}
		out, err := e.Run(in, nil)
		if err != nil {
			return fmt.Errorf("batch from sample %d: %w", total, err)
		}
		if err := w.Append(out); err != nil {
			return err
		}
		total += runRows(in)
		pending = pending[:0]
		return nil
	}
	for {
		s, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return total, fmt.Errorf("sample %d: %w", total+len(pending), err)
		}
		pending = append(pending, s)
		if len(pending) == batch {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	return total, flush()
}

// runRows is how many samples a fed batch holds: the first dimension of its
// inputs (1 for scalars).
func runRows(in map[string]*tensor.Tensor) int {
	for _, t := range in {
		if t.Rank() > 0 {
			return t.Shape[0]
		}
	}
	return 1
}

// runConcat joins samples along the first axis. A sample whose rank is one
// less than the model input's gets a leading batch axis of 1 first.
func runConcat(samples []map[string]*tensor.Tensor, specs []kernels.ValueSpec) (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	for name := range samples[0] {
		var want *kernels.ValueSpec
		for i := range specs {
			if specs[i].Name == name {
				want = &specs[i]
			}
		}
		parts := make([]*tensor.Tensor, len(samples))
		for i, s := range samples {
			t, ok := s[name]
			if !ok {
				return nil, fmt.Errorf("input %q missing from sample %d", name, i)
			}
			if want != nil && want.Shape != nil && len(t.Shape) == len(want.Shape)-1 {
				t = &tensor.Tensor{DType: t.DType, Shape: append([]int{1}, t.Shape...), Data: t.Data}
			}
			parts[i] = t
		}
		if len(parts) == 1 {
			out[name] = parts[0]
			continue
		}
		t, err := runConcatFirst(parts)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

func runConcatFirst(parts []*tensor.Tensor) (*tensor.Tensor, error) {
	first := parts[0]
	if first.Rank() == 0 {
		return nil, errors.New("cannot batch scalars")
	}
	rows := 0
	for i, p := range parts {
		if p.DType != first.DType || p.Rank() != first.Rank() || !slices.Equal(p.Shape[1:], first.Shape[1:]) {
			return nil, fmt.Errorf("sample %d is %v, sample 0 %v: cannot batch them", i, p, first)
		}
		rows += p.Shape[0]
	}
	shape := append([]int{rows}, first.Shape[1:]...)
	out := tensor.New(first.DType, shape...)
	off := 0
	for _, p := range parts {
		off += tensor.CopyAt(out.Data, p.Data, off)
	}
	return out, nil
}

// runWriter streams each graph output to its own .npy file.
type runWriter struct {
	dir     string
	outputs []kernels.ValueSpec
	files   map[string]string // output name -> file path
	streams map[string]*npyStream
}

// runFileName maps an output name to a file name: characters outside
// A-Za-z0-9_.- become _.
func runFileName(name string) string {
	b := []byte(name)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			b[i] = '_'
		}
	}
	s := string(b)
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return s + ".npy"
}

func newRunWriter(dir string, outputs []kernels.ValueSpec) (*runWriter, error) {
	w := &runWriter{dir: dir, outputs: outputs, files: map[string]string{}, streams: map[string]*npyStream{}}
	used := map[string]string{}
	for _, o := range outputs {
		f := runFileName(o.Name)
		if prev, dup := used[f]; dup {
			return nil, fmt.Errorf("outputs %q and %q would both be written to %s", prev, o.Name, f)
		}
		used[f] = o.Name
		w.files[o.Name] = filepath.Join(dir, f)
	}
	return w, nil
}

// Append writes one run's outputs; the first dimension is the sample axis
// (a scalar output counts as one row).
func (w *runWriter) Append(out map[string]*tensor.Tensor) error {
	for _, o := range w.outputs {
		t := out[o.Name]
		if t == nil {
			return fmt.Errorf("output %q was not produced", o.Name)
		}
		if t.Rank() == 0 {
			t = &tensor.Tensor{DType: t.DType, Shape: []int{1}, Data: t.Data}
		}
		s := w.streams[o.Name]
		if s == nil {
			var err error
			if s, err = newNPYStream(w.files[o.Name], t.DType, t.Shape[1:]); err != nil {
				return err
			}
			w.streams[o.Name] = s
		}
		if err := s.Append(t); err != nil {
			return err
		}
	}
	return nil
}

// Close finishes every file.
func (w *runWriter) Close() error {
	var errs []error
	for _, o := range w.outputs {
		if s := w.streams[o.Name]; s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

func (w *runWriter) paths() []string {
	var ps []string
	for _, o := range w.outputs {
		if w.streams[o.Name] != nil {
			ps = append(ps, w.files[o.Name])
		}
	}
	return ps
}
