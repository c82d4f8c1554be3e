package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/tensor"
)

func benchCmd() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "time the float engine on a model with random inputs",
		ArgsUsage: "MODEL",
		Description: "Runs MODEL on random inputs --warmup times untimed, then --iters times timed, and\n" +
			"prints the median and minimum latency. Symbolic dimensions are 1 unless --shape gives them.",
		Flags: []cli.Flag{
			&cli.GenericFlag{Name: "shape", Value: &benchShapeFlag{}, Usage: "input shape as name=1,3,224,224 (repeatable)"},
			&cli.IntFlag{Name: "threads", Usage: "goroutines per operator (0: all cores)"},
			&cli.IntFlag{Name: "iters", Value: 10, Usage: "timed runs"},
			&cli.IntFlag{Name: "warmup", Value: 2, Usage: "untimed runs before timing"},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON object instead of text"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a Go CPU profile of the timed runs to `FILE` (read it with go tool pprof)"},
		},
		Action: benchAction,
	}
}

// benchResult is what --json prints.
type benchResult struct {
	Model    string           `json:"model"`
	MedianMs float64          `json:"median_ms"`
	MinMs    float64          `json:"min_ms"`
	MeanMs   float64          `json:"mean_ms"`
	Iters    int              `json:"iters"`
	Warmup   int              `json:"warmup"`
	Threads  int              `json:"threads"`
	Inputs   map[string][]int `json:"inputs"`
}

func benchAction(c *cli.Context) error {
	if err := needArgs(c, 1, "MODEL"); err != nil {
		return err
	}
	iters, warmup := c.Int("iters"), c.Int("warmup")
	if iters < 1 || warmup < 0 {
		return usagef("bench: --iters %d --warmup %d: want at least 1 timed run and no negative warm-up", iters, warmup)
	}
	path := c.Args().First()
	e, threads, err := runLoadEngineFused(path, c.Int("threads"))
	if err != nil {
		return err
	}
	shapes, err := benchParseShapes(c.Generic("shape").(*benchShapeFlag).specs)
	if err != nil {
		return usageError{err.Error()}
	}
	for _, s := range e.Inputs() {
		if _, given := shapes[s.Name]; !given && slices.Contains(s.Shape, -1) {
			fmt.Fprintf(c.App.ErrWriter, "bench: input %q is %v: symbolic dimensions set to 1 (use --shape %s=...)\n", s.Name, s, s.Name)
		}
	}
	inputs, err := benchInputs(e.Inputs(), shapes)
	if err != nil {
		return err
	}
	for range warmup {
		if _, err := e.Run(inputs, nil); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if path := c.String("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	times := make([]float64, iters)
	for i := range times {
		start := time.Now()
		if _, err := e.Run(inputs, nil); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		times[i] = float64(time.Since(start).Nanoseconds()) / 1e6
	}
	res := benchResult{Model: path, Iters: iters, Warmup: warmup, Threads: threads, Inputs: map[string][]int{}}
	res.MedianMs, res.MinMs, res.MeanMs = benchStats(times)
	for name, t := range inputs {
		res.Inputs[name] = t.Shape
	}
	w := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	_, err = fmt.Fprintf(w, "%s: median %.3f ms, min %.3f ms, mean %.3f ms over %d runs (%d warm-up), threads=%d\n",
		path, res.MedianMs, res.MinMs, res.MeanMs, iters, warmup, threads)
	return err
}

// benchStats returns the median, minimum and mean of xs.
func benchStats(xs []float64) (median, lo, mean float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	for _, x := range s {
		mean += x
	}
	return median, s[0], mean / float64(n)
}

// benchShapeFlag collects repeated --shape flags. A string-slice flag would
// split name=1,3,224,224 at its commas.
type benchShapeFlag struct{ specs []string }

func (f *benchShapeFlag) Set(v string) error { f.specs = append(f.specs, v); return nil }
func (f *benchShapeFlag) String() string     { return strings.Join(f.specs, " ") }

// benchParseShapes reads name=d0,d1,... flags.
func benchParseShapes(flags []string) (map[string][]int, error) {
	out := map[string][]int{}
	for _, f := range flags {
		name, dims, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--shape %q: want name=d0,d1,...", f)
		}
		var shape []int
		if dims != "" {
			for _, d := range strings.Split(dims, ",") {
				v, err := strconv.Atoi(strings.TrimSpace(d))
				if err != nil || v < 0 {
					return nil, fmt.Errorf("--shape %q: bad dimension %q", f, d)
				}
				shape = append(shape, v)
			}
		}
		out[name] = shape
	}
	return out, nil
}

// benchInputs makes deterministic pseudo-random inputs: floats uniform in
// [-1, 1), integers and booleans zero (safe as indices and token ids).
func benchInputs(specs []kernels.ValueSpec, shapes map[string][]int) (map[string]*tensor.Tensor, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := map[string]*tensor.Tensor{}
	for _, s := range specs {
		shape, given := shapes[s.Name]
		delete(shapes, s.Name)
		if !given {
			if s.Shape == nil {
				return nil, fmt.Errorf("input %q has no declared shape: give it with --shape %s=...", s.Name, s.Name)
			}
			shape = make([]int, len(s.Shape))
			for i, d := range s.Shape {
				shape[i] = max(d, 1)
			}
		}
		dt := s.DType
		if dt == tensor.Undefined {
			dt = tensor.Float
		}
		t := tensor.New(dt, shape...)
		switch d := t.Data.(type) {
		case []float32:
			for i := range d {
				d[i] = rng.Float32()*2 - 1
			}
		case []float64:
			for i := range d {
				d[i] = rng.Float64()*2 - 1
			}
		}
		inputs[s.Name] = t
	}
	for name := range shapes {
		var names []string
		for _, s := range specs {
			names = append(names, s.Name)
		}
		return nil, fmt.Errorf("--shape %s: the model has no such input (inputs: %s)", name, strings.Join(names, ", "))
	}
	return inputs, nil
}
