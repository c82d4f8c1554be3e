package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/compare"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/report"
)

// reportInputs is what quantize hands to the report besides its summary.
type reportInputs struct {
	prepared *onnx.ModelProto // the float model after preparation: its names match the quantized model's
	quant    *onnx.ModelProto
	stats    *calibrate.Stats // nil without calibration
	ranges   map[string]calibrate.Range
}

// writeReport writes the HTML report of a quantize run to path. The
// per-tensor comparison runs on the evaluation samples when there are any.
func writeReport(c *cli.Context, path string, sum *summary, in reportInputs, threads int) error {
	page := &report.Page{
		Title:      "ptq report: " + filepath.Base(sum.Model),
		Eval:       sum.Eval,
		Ranges:     in.ranges,
		Histograms: map[string]*calibrate.Histogram{},
	}
	page.Summary = reportRows(sum)
	for _, f := range sum.Float {
		page.Float = append(page.Float, report.FloatNode{Node: f.Node, OpType: f.OpType, Reason: f.Reason})
	}
	if in.stats != nil {
		for name, ts := range in.stats.Tensors {
			if len(ts.Summaries) == 1 && ts.Summaries[0].Hist != nil {
				page.Histograms[name] = ts.Summaries[0].Hist
			}
		}
	}
	dataPath := c.String("eval-data")
	if dataPath == "" {
		dataPath = c.String("data")
	}
	if dataPath != "" && !c.Bool("no-eval") {
		d, err := reportCompare(c, dataPath, in, threads)
		if err != nil {
			return fmt.Errorf("per-tensor comparison: %w", err)
		}
		page.Tensors = d.Tensors
		if page.Eval == nil {
			page.Eval = d.Report
		}
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, page); err != nil {
		return err
	}
	return onnxio.WriteFileAtomic(path, buf.Bytes())
}

func reportCompare(c *cli.Context, dataPath string, in reportInputs, threads int) (*compare.Detailed, error) {
	fm, err := graph.FromProto(in.prepared)
	if err != nil {
		return nil, err
	}
	qm, err := graph.FromProto(in.quant)
	if err != nil {
		return nil, err
	}
	fe, err := kernels.NewEngine(fm, kernels.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	qe, err := kernels.NewEngine(qm, kernels.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	r, labels, err := openEvalData(c, dataPath, fe.Inputs())
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return compare.Tensors(fm, qm, fe, qe, r, labels)
}

func reportRows(s *summary) []report.Row {
	rows := []report.Row{
		{Key: "model", Value: s.Model},
		{Key: "output", Value: s.Output},
		{Key: "mode", Value: s.Mode},
	}
	if s.Method != "" {
		rows = append(rows, report.Row{Key: "range method", Value: s.Method},
			report.Row{Key: "calibration samples", Value: fmt.Sprint(s.Samples)})
	}
	for _, k := range []string{"weight_type", "activation_type", "per_channel", "format"} {
		if v, ok := s.Options[k]; ok {
			rows = append(rows, report.Row{Key: strings.ReplaceAll(k, "_", " "), Value: fmt.Sprint(v)})
		}
	}
	rows = append(rows,
		report.Row{Key: "size", Value: fmt.Sprintf("%s → %s", human(s.SizeBefore), human(s.SizeAfter))},
		report.Row{Key: "nodes quantized", Value: s.quantizedByOp()},
		report.Row{Key: "activations folded", Value: fmt.Sprint(len(s.Folded))},
		report.Row{Key: "nodes left in float", Value: fmt.Sprint(len(s.Float))})
	if fb := s.Fallback; fb != nil {
		state := "met"
		if !fb.Met {
			state = "NOT met"
		}
		rows = append(rows, report.Row{Key: "target " + fb.Target, Value: fmt.Sprintf("%s (%.2f before, %.2f after); kept in float: %s", state, fb.Before, fb.After, strings.Join(fb.KeptFloat, ", "))})
	}
	return rows
}
