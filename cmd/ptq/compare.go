package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/ptq-dev/ptq/compare"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
)

func compareCmd() *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "measure how far a quantized model drifts from its float model, per output and per quantized tensor",
		ArgsUsage: "FLOAT.onnx QUANT.onnx",
		Description: "Runs both models in ptq's engine on the same samples and reports, per output, SQNR, cosine\n" +
			"similarity, largest error and argmax agreement (top-1 accuracy with --labels), and for every\n" +
			"quantized tensor (QuantizeLinear->DequantizeLinear pairs and dequantized integer weights) its SQNR\n" +
			"against the float model's tensor of the same name and the SQNR its own quantization adds, worst first.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "labels", Usage: ".npy of int labels, one per sample, for top-1 accuracy"},
			&cli.IntFlag{Name: "batch", Value: 1, Usage: "samples per engine run when the batch dimension is symbolic"},
			&cli.IntFlag{Name: "threads", Usage: "goroutines per operator (0: all cores)"},
			&cli.IntFlag{Name: "top", Value: 20, Usage: "tensors listed in the text output (0: all)"},
			&cli.BoolFlag{Name: "json", Usage: "print the comparison as JSON on stdout"},
		}, runDataFlags()...),
		Action: compareAction,
	}
}

func compareAction(c *cli.Context) error {
	if err := needArgs(c, 2, "FLOAT.onnx QUANT.onnx"); err != nil {
		return err
	}
	if c.String("data") == "" {
		return usagef("compare: --data is required")
	}
	threads := c.Int("threads")
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	fm, fe, err := compareLoad(c.Args().Get(0), threads)
	if err != nil {
		return err
	}
	qm, qe, err := compareLoad(c.Args().Get(1), threads)
	if err != nil {
		return err
	}
	batch := c.Int("batch")
	if batch < 1 {
		return usagef("compare: --batch %d, want at least 1", batch)
	}
	if !runSymbolicBatch(fe.Inputs()) {
		batch = 1
	}
	r, err := runOpenData(c, fe.Inputs(), batch)
	if err != nil {
		return err
	}
	defer r.Close()
	var labels []int64
	if lp := c.String("labels"); lp != "" {
		if labels, err = readLabels(lp); err != nil {
			return err
		}
	}
	d, err := compare.Tensors(fm, qm, fe, qe, r, labels)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(compareJSON(d))
	}
	printCompare(c.App.Writer, d, c.Int("top"))
	return nil
}

func compareLoad(path string, threads int) (*graph.Model, *kernels.Engine, error) {
	mp, err := onnxio.Load(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	e, err := kernels.NewEngine(m, kernels.Options{Threads: threads})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, e, nil
}

// compareJSON is the JSON form: NaN (not measured) becomes null, +Inf "inf".
func compareJSON(d *compare.Detailed) any {
	out := evalJSON(d.Report).(map[string]any)
	var ts []map[string]any
	for _, t := range d.Tensors {
		ts = append(ts, map[string]any{"name": t.Name, "kind": t.Kind, "sqnr_db": jsonNum(t.SQNR), "cosine": jsonNum(t.Cosine),
			"max_abs_error": jsonNum(t.MaxAbs), "local_sqnr_db": jsonNum(t.LocalSQNR)})
	}
	out["tensors"] = ts
	return out
}

func jsonNum(x float64) any {
	switch {
	case math.IsInf(x, 1):
		return "inf"
	case math.IsNaN(x) || math.IsInf(x, 0):
		return nil
	}
	return x
}

func printCompare(w io.Writer, d *compare.Detailed, top int) {
	fmt.Fprintf(w, "%d samples\n", d.Samples)
	printOutputs(w, "", "output ", d.Report)
	fmt.Fprintf(w, "quantized tensors, worst first (SQNR vs the float model; local: the error of this quantization alone):\n")
	fmt.Fprintf(w, "  %-10s %10s %10s  %s\n", "kind", "SQNR dB", "local dB", "tensor")
	for i, t := range d.Tensors {
		if top > 0 && i == top {
			fmt.Fprintf(w, "  ... %d more (--top 0 lists all)\n", len(d.Tensors)-top)
			break
		}
		fmt.Fprintf(w, "  %-10s %10s %10s  %s\n", t.Kind, dB(t.SQNR), dB(t.LocalSQNR), t.Name)
	}
}

func dB(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}
