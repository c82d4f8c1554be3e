package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/compare"
	"github.com/ptq-dev/ptq/dataset"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/rewrite"
	"github.com/ptq-dev/ptq/tensor"
)

// fallbackReport says which nodes the sensitivity search kept in float.
type fallbackReport struct {
	Target    string   `json:"target"`
	Before    float64  `json:"before"`
	After     float64  `json:"after"`
	Met       bool     `json:"met"`
	KeptFloat []string `json:"kept_float"`
	// Cost is each candidate's gain when it alone stays float, most costly first.
	Cost []nodeCost `json:"cost"`
}

type nodeCost struct {
	Node string  `json:"node"`
	Op   string  `json:"op_type"`
	Gain float64 `json:"gain"`
}

// fallback searches for the fewest nodes to keep in float so that the
// quantized model meets --min-sqnr (output SQNR, dB) or --max-drop (top-1
// points) on the evaluation samples.
type fallback struct {
	*scorer
	minSQNR float64
	maxDrop float64
	report  *fallbackReport
	log     io.Writer
}

func newFallback(c *cli.Context, prepared *onnx.ModelProto, threads int) (*fallback, error) {
	f := &fallback{log: c.App.ErrWriter}
	bySQNR := c.IsSet("min-sqnr")
	if bySQNR {
		f.minSQNR = c.Float64("min-sqnr")
	} else {
		f.maxDrop = c.Float64("max-drop")
		if c.String("labels") == "" {
			return nil, usagef("quantize: --max-drop needs --labels (or use --min-sqnr, which needs none)")
		}
	}
	sc, err := newScorer(c, prepared, threads, bySQNR)
	if err != nil {
		return nil, err
	}
	f.scorer = sc
	return f, nil
}

// scorer measures quantized models against the float model on the
// evaluation samples (--eval-data, else --data; at most
// --sensitivity-samples of them), kept in memory with the float outputs so
// that many candidates can be compared cheaply.
type scorer struct {
	prepared *onnx.ModelProto
	threads  int
	samples  []map[string]*tensor.Tensor
	ref      []map[string]*tensor.Tensor // float outputs per sample
	first    string                      // the output measured
	labels   []int64
	refTop1  float64
	bySQNR   bool
}

// newScorer runs the float model prepared over the samples. Scores are the
// output SQNR when bySQNR, else the top-1 drop, which needs --labels.
func newScorer(c *cli.Context, prepared *onnx.ModelProto, threads int, bySQNR bool) (*scorer, error) {
	f := &scorer{prepared: prepared, threads: threads, bySQNR: bySQNR}
	m, err := graph.FromProto(prepared)
	if err != nil {
		return nil, err
	}
	eng, err := kernels.NewEngine(m, kernels.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	path := c.String("eval-data")
	if path == "" {
		path = c.String("data")
	}
	if path == "" {
		return nil, usagef("quantize: --min-sqnr, --max-drop and --cle need samples: give --data or --eval-data")
	}
	opts, err := runDataOptions(c, 1)
	if err != nil {
		return nil, err
	}
	opts.Samples = c.Int("sensitivity-samples")
	r, err := dataset.Open(path, runDatasetInputs(eng.Inputs()), opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		out, err := eng.Run(b, nil)
		if err != nil {
			return nil, err
		}
		f.samples = append(f.samples, b)
		f.ref = append(f.ref, out)
	}
	if len(f.samples) == 0 {
		return nil, errors.New("quantize: no evaluation samples to score the quantized model on")
	}
	f.first = eng.Outputs()[0].Name
	if lp := c.String("labels"); lp != "" && !bySQNR {
		if f.labels, err = readLabels(lp); err != nil {
			return nil, err
		}
		if len(f.labels) < len(f.samples) {
			return nil, fmt.Errorf("quantize: %d labels for %d evaluation samples", len(f.labels), len(f.samples))
		}
		f.labels = f.labels[:len(f.samples)]
		right := 0
		for i, o := range f.ref {
			if argmaxOf(o[f.first]) == f.labels[i] {
				right++
			}
		}
		f.refTop1 = float64(right) / float64(len(f.samples))
	}
	return f, nil
}

func argmaxOf(t *tensor.Tensor) int64 {
	d := t.Float32()
	best := 0
	for i, x := range d {
		if x > d[best] {
			best = i
		}
	}
	return int64(best)
}

// score measures a quantized model: output SQNR in dB, or the top-1 drop in
// points (negated, so that higher is better in both cases).
func (f *scorer) score(qp *onnx.ModelProto) (float64, error) {
	m, err := graph.FromProto(qp)
	if err != nil {
		return 0, err
	}
	eng, err := kernels.NewEngine(m, kernels.Options{Threads: f.threads})
	if err != nil {
		return 0, err
	}
	st := &compare.Stats{Name: f.first}
	right := 0
	for i, s := range f.samples {
		out, err := eng.Run(s, nil)
		if err != nil {
			return 0, err
		}
		if err := st.Add(f.ref[i][f.first], out[f.first]); err != nil {
			return 0, err
		}
		if f.labels != nil && argmaxOf(out[f.first]) == f.labels[i] {
			right++
		}
	}
	if f.bySQNR {
		return st.SQNR(), nil
	}
	return -100 * (f.refTop1 - float64(right)/float64(len(f.samples))), nil
}

// sqnrMargin is added to --min-sqnr during the search: ptq's engine
// simulates the integer kernels in float, and ONNX Runtime's fused kernels
// round a little differently, so a model found to just meet the target
// here could miss it there by a few hundredths of a dB.
const sqnrMargin = 0.25

func (f *fallback) met(score float64) bool {
	if f.bySQNR {
		return score >= f.minSQNR+sqnrMargin
	}
	return -score <= f.maxDrop
}

func (f *fallback) target() string {
	if f.bySQNR {
		return fmt.Sprintf("output SQNR >= %g dB", f.minSQNR)
	}
	return fmt.Sprintf("top-1 drop <= %g points", f.maxDrop)
}

// run ranks the quantized nodes by how much keeping each alone in float
// helps, then keeps the most costly ones in float, doubling their number
// until the target holds and bisecting back to the fewest that suffice.
func (f *fallback) run(cfg rewrite.Config, ranges map[string]calibrate.Range, qp *onnx.ModelProto, res *rewrite.Result) (*onnx.ModelProto, *rewrite.Result, error) {
	base, err := f.score(qp)
	if err != nil {
		return nil, nil, err
	}
	f.report = &fallbackReport{Target: f.target(), Before: base, After: base, Met: f.met(base)}
	if f.report.Met {
		return qp, res, nil
	}
	var cands []*graph.Node
	for _, n := range res.Quantized {
		if rewrite.Rules[n.OpType].Kind != rewrite.Passthrough {
			cands = append(cands, n)
		}
	}
	fmt.Fprintf(f.log, "quantize: %s misses %s (%.2f); ranking %d nodes\n", "the model", f.target(), base, len(cands))
	for _, n := range cands {
		c := cfg
		c.ExcludeNodes = append(append([]string(nil), cfg.ExcludeNodes...), n.Name)
		q, _, err := buildQuantized(f.prepared, c, ranges)
		if err != nil {
			return nil, nil, err
		}
		s, err := f.score(q)
		if err != nil {
			return nil, nil, err
		}
		f.report.Cost = append(f.report.Cost, nodeCost{Node: n.Name, Op: n.OpType, Gain: s - base})
	}
	sort.SliceStable(f.report.Cost, func(i, j int) bool { return f.report.Cost[i].Gain > f.report.Cost[j].Gain })
	try := func(k int) (*onnx.ModelProto, *rewrite.Result, float64, error) {
		c := cfg
		c.ExcludeNodes = append([]string(nil), cfg.ExcludeNodes...)
		for _, nc := range f.report.Cost[:k] {
			c.ExcludeNodes = append(c.ExcludeNodes, nc.Node)
		}
		q, r, err := buildQuantized(f.prepared, c, ranges)
		if err != nil {
			return nil, nil, 0, err
		}
		s, err := f.score(q)
		return q, r, s, err
	}
	type found struct {
		k     int
		q     *onnx.ModelProto
		r     *rewrite.Result
		score float64
	}
	var best *found
	lo := 0 // largest k known to miss
	for k := 1; ; k *= 2 {
		if k > len(f.report.Cost) {
			k = len(f.report.Cost)
		}
		q, r, s, err := try(k)
		if err != nil {
			return nil, nil, err
		}
		if f.met(s) {
			best = &found{k, q, r, s}
			break
		}
		lo = k
		if k == len(f.report.Cost) {
			// Even with every candidate in float the target is missed.
			f.report.After, f.report.Met = s, false
			for _, nc := range f.report.Cost {
				f.report.KeptFloat = append(f.report.KeptFloat, nc.Node)
			}
			fmt.Fprintf(f.log, "quantize: %s cannot be met: %.2f with all %d ranked nodes in float (misses by %.2f)\n",
				f.target(), s, k, math.Abs(f.gap(s)))
			return q, r, nil
		}
	}
	for hi := best.k; hi-lo > 1; {
		mid := (lo + hi) / 2
		q, r, s, err := try(mid)
		if err != nil {
			return nil, nil, err
		}
		if f.met(s) {
			hi, best = mid, &found{mid, q, r, s}
		} else {
			lo = mid
		}
	}
	f.report.After, f.report.Met = best.score, true
	for _, nc := range f.report.Cost[:best.k] {
		f.report.KeptFloat = append(f.report.KeptFloat, nc.Node)
	}
	return best.q, best.r, nil
}

func (f *fallback) gap(s float64) float64 {
	if f.bySQNR {
		return f.minSQNR - s
	}
	return -s - f.maxDrop
}
