package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/compare"
	"github.com/ptq-dev/ptq/dataset"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/quant"
	"github.com/ptq-dev/ptq/rewrite"
)

// defaultMethod is the range method used when none is given; see the
// README for the measurements behind the choice.
const defaultMethod = "mse"

func quantizeCmd() *cli.Command {
	return &cli.Command{
		Name:      "quantize",
		Usage:     "quantize a float ONNX model",
		ArgsUsage: "MODEL",
		Description: "Prepares MODEL (constant folding, BatchNorm folding, opset upgrade), calibrates\n" +
			"its activations on --data (static mode) and writes a QDQ (or QOperator) model to -o.\n" +
			"Options may also come from --recipe FILE (JSON or YAML, same names as the flags,\n" +
			"with - or _); flags given on the command line win.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "output model (required)"},
			&cli.StringFlag{Name: "recipe", Usage: "JSON or YAML file with options (same names as the flags) and per-tensor overrides"},
			&cli.StringFlag{Name: "mode", Value: "static", Usage: "static, dynamic or weight-only"},
			&cli.StringFlag{Name: "format", Value: "qdq", Usage: "qdq or qoperator"},
			&cli.StringFlag{Name: "method", Value: defaultMethod, Usage: "activation range method: minmax, moving-average, percentile, entropy, mse, aciq-laplace, aciq-gauss"},
			&cli.Float64Flag{Name: "percentile", Value: 99.999, Usage: "percentile for --method percentile"},
			&cli.BoolFlag{Name: "per-channel", Value: true, Usage: "per-channel weights (--per-channel=false for per-tensor)"},
			&cli.StringFlag{Name: "weight-type", Value: "int8", Usage: "int8, uint8, int4 or uint4"},
			&cli.StringFlag{Name: "activation-type", Value: "uint8", Usage: "uint8, int8, uint16 or int16"},
			&cli.BoolFlag{Name: "symmetric-activations", Usage: "centre activation ranges on zero"},
			&cli.BoolFlag{Name: "reduce-range", Usage: "7-bit weights, for CPUs without VNNI"},
			&cli.IntFlag{Name: "block-size", Usage: "quantize weights in blocks of N input channels (opset 21)"},
			&cli.StringSliceFlag{Name: "op-types", Usage: "quantize only these op types (comma-separated)"},
			&cli.StringSliceFlag{Name: "exclude-op-types", Usage: "keep these op types in float"},
			&cli.StringSliceFlag{Name: "exclude-nodes", Usage: "keep these nodes in float (names or glob patterns)"},
			&cli.StringSliceFlag{Name: "skip-pass", Usage: "do not run these preparation passes (by name)"},
			&cli.StringSliceFlag{Name: "stats", Usage: "use these statistics files (from ptq calibrate) instead of --data; merged"},
			&cli.IntFlag{Name: "batch", Value: 1, Usage: "samples per engine run when the batch dimension is symbolic"},
			&cli.IntFlag{Name: "threads", Usage: "goroutines per operator (0: all cores)"},
			&cli.BoolFlag{Name: "skip-nonfinite", Usage: "drop calibration samples holding NaN or Inf instead of failing"},
			&cli.StringFlag{Name: "eval-data", Usage: "samples for the quality check (default: the calibration data)"},
			&cli.StringFlag{Name: "labels", Usage: ".npy of int labels, one per evaluation sample, for top-1 accuracy"},
			&cli.IntFlag{Name: "eval-samples", Value: 256, Usage: "samples for the quality check (0: all)"},
			&cli.BoolFlag{Name: "no-eval", Usage: "skip the quality check"},
			&cli.Float64Flag{Name: "min-sqnr", Usage: "keep the most costly nodes in float until the output SQNR (dB) on the evaluation samples reaches this"},
			&cli.Float64Flag{Name: "max-drop", Usage: "keep the most costly nodes in float until top-1 accuracy drops at most this many points (needs --labels)"},
			&cli.IntFlag{Name: "sensitivity-samples", Value: 64, Usage: "evaluation samples used to rank nodes for --min-sqnr / --max-drop and to choose the --cle pairs"},
			// recover.go: passes that win back accuracy.
			&cli.BoolFlag{Name: "cle", Usage: "cross-layer equalization of Conv/Gemm pairs before calibration (helps per-tensor weights)"},
			&cli.BoolFlag{Name: "bias-correction", Usage: "correct Conv/Gemm biases by the mean output error on the calibration data"},
			&cli.Float64Flag{Name: "smoothquant", Usage: "migrate activation outliers of MatMul/Gemm inputs into the weights with this alpha (0.5 typical)"},
			&cli.BoolFlag{Name: "external-data", Usage: "store large tensors in a .data file beside the output"},
			&cli.StringFlag{Name: "report", Usage: "write an HTML report (summary, per-layer SQNR, activation histograms) to this file"},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON on stdout"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		}, runDataFlags()...),
		Action: quantizeAction,
	}
}

// recipe is the file form of the options: the flags' names, with per-tensor
// overrides.
type recipe struct {
	Mode                 *string                           `json:"mode" yaml:"mode"`
	Format               *string                           `json:"format" yaml:"format"`
	Method               *string                           `json:"method" yaml:"method"`
	Percentile           *float64                          `json:"percentile" yaml:"percentile"`
	PerChannel           *bool                             `json:"per_channel" yaml:"per_channel"`
	WeightType           *string                           `json:"weight_type" yaml:"weight_type"`
	ActivationType       *string                           `json:"activation_type" yaml:"activation_type"`
	SymmetricActivations *bool                             `json:"symmetric_activations" yaml:"symmetric_activations"`
	ReduceRange          *bool                             `json:"reduce_range" yaml:"reduce_range"`
	BlockSize            *int                              `json:"block_size" yaml:"block_size"`
	OpTypes              []string                          `json:"op_types" yaml:"op_types"`
	ExcludeOpTypes       []string                          `json:"exclude_op_types" yaml:"exclude_op_types"`
	ExcludeNodes         []string                          `json:"exclude_nodes" yaml:"exclude_nodes"`
	SkipPass             []string                          `json:"skip_pass" yaml:"skip_pass"`
	Tensors              map[string]rewrite.TensorOverride `json:"tensors" yaml:"tensors"`
}

func readRecipe(path string) (*recipe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Both spellings of names are accepted: per-channel and per_channel.
	norm := strings.NewReplacer("-", "_")
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil { // YAML is a superset of JSON
		return nil, fmt.Errorf("recipe %s: %w", path, err)
	}
	fixed := map[string]any{}
	known := map[string]bool{"mode": true, "format": true, "method": true, "percentile": true, "per_channel": true,
		"weight_type": true, "activation_type": true, "symmetric_activations": true, "reduce_range": true,
		"block_size": true, "op_types": true, "exclude_op_types": true, "exclude_nodes": true, "skip_pass": true, "tensors": true}
	for k, v := range raw {
		nk := norm.Replace(k)
		if !known[nk] {
			return nil, fmt.Errorf("recipe %s: unknown option %q", path, k)
		}
		fixed[nk] = v
	}
	jb, err := json.Marshal(fixed)
	if err != nil {
		return nil, fmt.Errorf("recipe %s: %w", path, err)
	}
	var r recipe
	if err := json.Unmarshal(jb, &r); err != nil {
		return nil, fmt.Errorf("recipe %s: %w", path, err)
	}
	return &r, nil
}

// options gathers the configuration from the recipe and the flags.
type options struct {
	cfg    rewrite.Config
	method calibrate.Method
	skip   map[string]bool
	echo   map[string]any // recorded in the output's metadata
}

func quantizeOptions(c *cli.Context) (*options, error) {
	r := &recipe{}
	if p := c.String("recipe"); p != "" {
		var err error
		if r, err = readRecipe(p); err != nil {
			return nil, err
		}
	}
	str := func(flag string, rv *string) string {
		if rv != nil && !c.IsSet(flag) {
			return *rv
		}
		return c.String(flag)
	}
	boolean := func(flag string, rv *bool) bool {
		if rv != nil && !c.IsSet(flag) {
			return *rv
		}
		return c.Bool(flag)
	}
	list := func(flag string, rv []string) []string {
		if rv != nil && !c.IsSet(flag) {
			return rv
		}
		var out []string
		for _, s := range c.StringSlice(flag) {
			for _, x := range strings.Split(s, ",") {
				if x = strings.TrimSpace(x); x != "" {
					out = append(out, x)
				}
			}
		}
		return out
	}
	o := &options{cfg: rewrite.DefaultConfig(), skip: map[string]bool{}}
	var err error
	if o.cfg.Mode, err = rewrite.ParseMode(str("mode", r.Mode)); err != nil {
		return nil, usagef("quantize: %v", err)
	}
	if o.cfg.Format, err = rewrite.ParseFormat(str("format", r.Format)); err != nil {
		return nil, usagef("quantize: %v", err)
	}
	if o.cfg.WeightType, err = rewrite.ParseType(str("weight-type", r.WeightType)); err != nil {
		return nil, usagef("quantize: --weight-type: %v", err)
	}
	if o.cfg.ActivationType, err = rewrite.ParseType(str("activation-type", r.ActivationType)); err != nil {
		return nil, usagef("quantize: --activation-type: %v", err)
	}
	o.cfg.PerChannel = boolean("per-channel", r.PerChannel)
	o.cfg.SymmetricActivations = boolean("symmetric-activations", r.SymmetricActivations)
	o.cfg.ReduceRange = boolean("reduce-range", r.ReduceRange)
	o.cfg.BlockSize = c.Int("block-size")
	if r.BlockSize != nil && !c.IsSet("block-size") {
		o.cfg.BlockSize = *r.BlockSize
	}
	o.cfg.OpTypes = list("op-types", r.OpTypes)
	o.cfg.ExcludeOpTypes = list("exclude-op-types", r.ExcludeOpTypes)
	o.cfg.ExcludeNodes = list("exclude-nodes", r.ExcludeNodes)
	o.cfg.Tensors = r.Tensors
	for _, s := range list("skip-pass", r.SkipPass) {
		o.skip[s] = true
	}
	for _, op := range append(append([]string(nil), o.cfg.OpTypes...), o.cfg.ExcludeOpTypes...) {
		if _, ok := rewrite.Rules[op]; !ok {
			return nil, usagef("quantize: op type %q has no quantization rule (known: %s)", op, strings.Join(ruleNames(), ", "))
		}
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, usagef("quantize: %v", err)
	}
	method := str("method", r.Method)
	pct := c.Float64("percentile")
	if r.Percentile != nil && !c.IsSet("percentile") {
		pct = *r.Percentile
	}
	if method == "percentile" && pct != 0 {
		method = fmt.Sprintf("percentile:%g", pct)
	}
	if o.method, err = calibrate.ParseMethod(method); err != nil {
		return nil, usagef("quantize: --method: %v", err)
	}
	o.echo = map[string]any{
		"mode": o.cfg.Mode.String(), "format": o.cfg.Format.String(), "method": o.method.String(),
		"per_channel": o.cfg.PerChannel, "weight_type": o.cfg.WeightType.String(),
		"activation_type": o.cfg.ActivationType.String(), "symmetric_activations": o.cfg.SymmetricActivations,
		"reduce_range": o.cfg.ReduceRange, "block_size": o.cfg.BlockSize, "op_types": o.cfg.OpTypes,
		"exclude_op_types": o.cfg.ExcludeOpTypes, "exclude_nodes": o.cfg.ExcludeNodes,
		"cle": c.Bool("cle"), "bias_correction": c.Bool("bias-correction"), "smoothquant": c.Float64("smoothquant"),
	}
	return o, nil
}

func ruleNames() []string {
	var out []string
	for k := range rewrite.Rules {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// summary is what quantize reports.
type summary struct {
	Model          string            `json:"model"`
	Output         string            `json:"output"`
	Mode           string            `json:"mode"`
	Method         string            `json:"method,omitempty"`
	Samples        int64             `json:"calibration_samples"`
	DataDigest     string            `json:"calibration_digest,omitempty"`
	Quantized      map[string]int    `json:"quantized_by_op"`
	QuantizedNodes []string          `json:"quantized_nodes"`
	Folded         []string          `json:"folded_activations"`
	Float          []floatNode       `json:"left_float"`
	IntegerNodes   int               `json:"integer_nodes_not_listed,omitempty"`
	SizeBefore     int64             `json:"size_before_bytes"`
	SizeAfter      int64             `json:"size_after_bytes"`
	Eval           *compare.Report   `json:"eval,omitempty"`
	Options        map[string]any    `json:"options"`
	Params         map[string]qparam `json:"activation_params,omitempty"`
	Fallback       *fallbackReport   `json:"fallback,omitempty"`
	CLE            *cleReport        `json:"cle,omitempty"`
}

type floatNode struct {
	Node   string `json:"node"`
	OpType string `json:"op_type"`
	Reason string `json:"reason"`
}

type qparam struct {
	Scale     float32 `json:"scale"`
	ZeroPoint int32   `json:"zero_point"`
}

func quantizeAction(c *cli.Context) error {
	if err := needArgs(c, 1, "MODEL"); err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		return usagef("quantize: no output; give -o OUT.onnx")
	}
	o, err := quantizeOptions(c)
	if err != nil {
		return err
	}
	model := c.Args().First()
	static := o.cfg.Mode == rewrite.Static
	if static && c.String("data") == "" && len(c.StringSlice("stats")) == 0 {
		return usagef("quantize: static quantization needs calibration data; give --data PATH (a .npy or .npz file, " +
			"a folder of them, of test_data_set_*/input_N.pb, or of images) or --stats FILE from ptq calibrate. " +
			"--mode dynamic and --mode weight-only need no data; --data random calibrates on random numbers (smoke tests only)")
	}
	threads := c.Int("threads")
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	mp, err := onnxio.Load(model)
	if err != nil {
		return err
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		return fmt.Errorf("%s: %w", model, err)
	}
	if err := refuseQuantized(m); err != nil {
		return fmt.Errorf("%s: %w", model, err)
	}
	passes := append(rewrite.Prepare(o.cfg.TargetOpset()),
		rewrite.Pass{Name: rewrite.PassFoldAffine, Run: rewrite.FoldAffine},
		rewrite.Pass{Name: rewrite.PassHardSwish, Run: rewrite.FuseHardSwish})
	if err := rewrite.RunPasses(m, passes, o.skip); err != nil {
		return fmt.Errorf("%s: %w", model, err)
	}
	base, err := m.ToProto()
	if err != nil {
		return err
	}
	sum := &summary{Model: model, Output: out, Mode: o.cfg.Mode.String(), Options: o.echo, Quantized: map[string]int{}}
	var cand *candidate
	if c.Bool("cle") && static && c.String("data") != "" {
		if cand, sum.CLE, err = chooseCLE(c, o, base, threads); err != nil {
			return err
		}
	} else if cand, err = quantizeCandidate(c, o, base, recoverPasses(c, threads, nil), threads); err != nil {
		return err
	}
	prepared, qp, res, ranges, repStats := cand.prepared, cand.qp, cand.res, cand.ranges, cand.stats
	if static {
		sum.Method = o.method.String()
		sum.Samples, sum.DataDigest = repStats.Samples, cand.digest
	}
	if c.IsSet("min-sqnr") || c.IsSet("max-drop") {
		fb, err := newFallback(c, prepared, threads)
		if err != nil {
			return err
		}
		if qp, res, err = fb.run(o.cfg, ranges, qp, res); err != nil {
			return err
		}
		sum.Fallback = fb.report
	}
	if c.Bool("bias-correction") && static {
		if qp, err = correctBiases(c, prepared, qp, res, threads); err != nil {
			return fmt.Errorf("bias correction: %w", err)
		}
	}
	addMetadata(qp, o, sum.DataDigest)
	if err := onnxio.Save(out, qp, onnxio.SaveOptions{ExternalData: c.Bool("external-data")}); err != nil {
		return err
	}
	fillSummary(sum, res, model, out, cand.floatWhy, cand.nonFloat)
	if !c.Bool("no-eval") && (static || c.String("eval-data") != "") {
		rep, err := quantizeEval(c, prepared, qp, threads)
		if err != nil {
			return fmt.Errorf("quality check: %w", err)
		}
		sum.Eval = rep
	}
	if p := c.String("report"); p != "" {
		if err := writeReport(c, p, sum, reportInputs{prepared, qp, repStats, ranges}, threads); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonSafe(sum))
	}
	printSummary(c.App.ErrWriter, sum)
	return nil
}

// progressWriter is where a progress bar goes: stderr when it is a
// terminal and --quiet is not given, else nowhere.
func progressWriter(c *cli.Context) io.Writer {
	if f, ok := c.App.ErrWriter.(*os.File); ok && !c.Bool("quiet") && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

// interruptible is the command's context, cancelled by Ctrl-C.
func interruptible(c *cli.Context) (context.Context, context.CancelFunc) {
	parent := c.Context
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt)
}

// wholeRange names the tensors calibrated by their whole [min, max] whatever
// the method: the model's inputs. Preprocessing already bounds them, and
// spikes away from zero (an image's background) make clipping methods cut
// real values.
func wholeRange(m *graph.Model) map[string]bool {
	whole := map[string]bool{}
	for _, v := range m.Graph.Inputs {
		whole[v.Name] = true
	}
	return whole
}

// candidate is one quantized model with what made it.
type candidate struct {
	prepared *onnx.ModelProto // the float model after all passes
	qp       *onnx.ModelProto
	res      *rewrite.Result
	ranges   map[string]calibrate.Range // nil unless static
	stats    *calibrate.Stats           // nil unless static
	digest   string
	// floatWhy says why a tensor got no range although calibration reached
	// it (by tensor name): the nodes using it stay float for that reason.
	floatWhy map[string]string
	// nonFloat names the tensors calibration saw with a non-float type.
	nonFloat map[string]bool
}

// quantizeCandidate runs the recovery passes on a copy of the prepared
// model base, calibrates it (static mode) and quantizes it.
func quantizeCandidate(c *cli.Context, o *options, base *onnx.ModelProto, recover []rewrite.Pass, threads int) (*candidate, error) {
	model := c.Args().First()
	m, err := graph.FromProto(base)
	if err != nil {
		return nil, err
	}
	if err := rewrite.RunPasses(m, recover, o.skip); err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	nameNodes(m)
	cand := &candidate{}
	if cand.prepared, err = m.ToProto(); err != nil {
		return nil, err
	}
	plan, err := rewrite.Analyze(m, o.cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	if o.cfg.Mode == rewrite.Static {
		cand.nonFloat = map[string]bool{}
		if cand.stats, cand.digest, err = quantizeStats(c, m, plan, o, threads, cand.nonFloat); err != nil {
			return nil, err
		}
		if cand.ranges, cand.floatWhy, err = quantizeRanges(cand.stats, o, wholeRange(m)); err != nil {
			return nil, err
		}
		dropWideSoftmaxInputs(m, cand.ranges, o.cfg.ActivationType, cand.floatWhy)
		dropShapeArithmetic(m, cand.ranges, cand.floatWhy)
		widenSoftmaxOutputs(m, cand.ranges, cand.stats, o.cfg.ActivationType)
	}
	if cand.qp, cand.res, err = buildQuantized(cand.prepared, o.cfg, cand.ranges); err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	return cand, nil
}

// buildQuantized quantizes a fresh copy of the prepared model with the given
// ranges, so that the fallback search can try many configurations.
func buildQuantized(prepared *onnx.ModelProto, cfg rewrite.Config, ranges map[string]calibrate.Range) (*onnx.ModelProto, *rewrite.Result, error) {
	m, err := graph.FromProto(prepared)
	if err != nil {
		return nil, nil, err
	}
	plan, err := rewrite.Analyze(m, cfg)
	if err != nil {
		return nil, nil, err
	}
	res, err := rewrite.QDQ(plan, ranges)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Format == rewrite.FormatQOperator {
		if err := rewrite.ToQOperator(m); err != nil {
			return nil, nil, err
		}
	}
	qp, err := m.ToProto()
	return qp, res, err
}

// nameNodes gives every unnamed node a unique name, so that summaries,
// recipes and --exclude-nodes can refer to it.
func nameNodes(m *graph.Model) {
	m.Graph.Walk(func(g *graph.Graph) error {
		for _, n := range g.Nodes {
			if n.Name == "" {
				n.Name = g.UniqueName(n.OpType)
			}
		}
		return nil
	})
}

// quantizeStats collects (or reads) the statistics of the tensors the plan
// needs.
func quantizeStats(c *cli.Context, m *graph.Model, plan *rewrite.Plan, o *options, threads int, nonFloat map[string]bool) (*calibrate.Stats, string, error) {
	if files := c.StringSlice("stats"); len(files) > 0 {
		var paths []string
		for _, f := range files {
			paths = append(paths, strings.Split(f, ",")...)
		}
		st, err := calibrate.MergeFiles(paths...)
		return st, "", err
	}
	eng, err := kernels.NewEngine(m, kernels.Options{Threads: threads})
	if err != nil {
		return nil, "", err
	}
	batch := c.Int("batch")
	if batch < 1 {
		return nil, "", usagef("quantize: --batch %d, want at least 1", batch)
	}
	if batch > 1 && !runSymbolicBatch(eng.Inputs()) {
		batch = 1
	}
	if c.String("data") == dataset.RandomPath {
		fmt.Fprintf(c.App.ErrWriter, "quantize: WARNING: --data random: ranges calibrated on random numbers are meaningless\n")
	}
	r, err := calibrateOpenData(c, eng.Inputs(), batch)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	values := map[string]calibrate.Granularity{}
	for _, name := range plan.Observe() {
		values[name] = calibrate.Granularity{}
	}
	opts := calibrate.RunOptions{Values: values, Needs: o.method.Needs(), Model: filepath.Base(c.Args().First()), NonFloat: nonFloat}
	if !c.Bool("json") {
		opts.Progress = progressWriter(c)
	}
	ctx, stop := interruptible(c)
	defer stop()
	st, err := calibrate.Run(ctx, eng, r, opts)
	if err != nil {
		return nil, "", err
	}
	if st.Samples == 0 {
		return nil, "", errors.New("quantize: the calibration data holds no samples")
	}
	return st, dataset.Digest(r), nil
}

// quantizeRanges applies the method to every tensor but those that keep
// their whole range (see wholeRange). Tensors that held ±Inf get no range
// and are listed in why.
func quantizeRanges(st *calibrate.Stats, o *options, whole map[string]bool) (ranges map[string]calibrate.Range, why map[string]string, err error) {
	target := calibrate.Target{Type: o.cfg.ActivationType, Symmetric: o.cfg.SymmetricActivations}
	ranges, why = map[string]calibrate.Range{}, map[string]string{}
	for _, name := range st.Names() {
		method := o.method
		if whole[name] {
			method = calibrate.MinMax{}
		}
		rs, err := st.Tensors[name].Ranges(method, target)
		if errors.Is(err, calibrate.ErrNoData) {
			continue // never reached: the node stays float, and says why
		}
		if errors.Is(err, calibrate.ErrInfinite) {
			why[name] = fmt.Sprintf("tensor %q holds ±Inf (an additive attention mask?), which no int range represents", name)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		if len(rs) > 0 {
			ranges[name] = rs[0]
		}
	}
	return ranges, why, nil
}

func addMetadata(m *onnx.ModelProto, o *options, digest string) {
	opts, _ := json.Marshal(o.echo)
	kv := func(k, v string) *onnx.StringStringEntryProto {
		return &onnx.StringStringEntryProto{Key: &k, Value: &v}
	}
	var keep []*onnx.StringStringEntryProto
	for _, e := range m.MetadataProps {
		if !strings.HasPrefix(e.GetKey(), "ptq.") {
			keep = append(keep, e)
		}
	}
	keep = append(keep, kv("ptq.version", version), kv("ptq.method", o.method.String()), kv("ptq.options", string(opts)))
	if digest != "" {
		keep = append(keep, kv("ptq.calibration_sha256", digest))
	}
	m.MetadataProps = keep
}

func fillSummary(sum *summary, res *rewrite.Result, model, out string, floatWhy map[string]string, nonFloat map[string]bool) {
	for _, n := range res.Quantized {
		sum.Quantized[n.OpType]++
		sum.QuantizedNodes = append(sum.QuantizedNodes, n.Name)
	}
	for _, n := range res.Folded {
		sum.Folded = append(sum.Folded, n.Name)
	}
	for _, s := range res.Skipped {
		if integerNode(s.Node, nonFloat) {
			sum.IntegerNodes++
			continue
		}
		sum.Float = append(sum.Float, floatNode{s.Node.Name, s.Node.OpType, skipReason(s, floatWhy)})
	}
	sum.Params = map[string]qparam{}
	for k, p := range res.Params {
		sum.Params[k] = qparam{p.Scale, p.ZeroPoint}
	}
	sum.SizeBefore = fileSize(model)
	sum.SizeAfter = fileSize(out)
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	n := st.Size()
	if d, err := os.Stat(p + ".data"); err == nil {
		n += d.Size()
	}
	return n
}

// quantizeEval runs the float model and the quantized model through the
// engine on the evaluation samples. The float model is the prepared one
// already in memory, which computes what the original does (the passes are
// checked against ONNX Runtime) and shares its weights, rather than a second
// copy loaded from disk: on a 500 MB model that copy and its engine were a
// gigabyte of the peak.
func quantizeEval(c *cli.Context, prepared, qp *onnx.ModelProto, threads int) (*compare.Report, error) {
	pm, err := graph.FromProto(prepared)
	if err != nil {
		return nil, err
	}
	ref, err := kernels.NewEngine(pm, kernels.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	qm, err := graph.FromProto(qp)
	if err != nil {
		return nil, err
	}
	test, err := kernels.NewEngine(qm, kernels.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	path := c.String("eval-data")
	if path == "" {
		path = c.String("data")
	}
	r, labels, err := openEvalData(c, path, ref.Inputs())
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return compare.Models(ref, test, r, labels)
}

// openEvalData opens the evaluation samples (--eval-samples of them, in
// batches when the model allows) and reads --labels if given.
func openEvalData(c *cli.Context, path string, specs []kernels.ValueSpec) (dataset.Reader, []int64, error) {
	batch := max(c.Int("batch"), 1)
	if !runSymbolicBatch(specs) {
		batch = 1
	}
	opts, err := runDataOptions(c, batch)
	if err != nil {
		return nil, nil, err
	}
	opts.Samples = c.Int("eval-samples")
	var labels []int64
	if lp := c.String("labels"); lp != "" {
		if labels, err = readLabels(lp); err != nil {
			return nil, nil, err
		}
	}
	r, err := dataset.Open(path, runDatasetInputs(specs), opts)
	return r, labels, err
}

func readLabels(path string) ([]int64, error) {
	r, err := dataset.Open(path, []dataset.Input{{Name: "labels", DType: 0, Shape: []int64{-1}}}, dataset.Options{Batch: 1 << 30})
	if err != nil {
		return nil, fmt.Errorf("labels %s: %w", path, err)
	}
	defer r.Close()
	var out []int64
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("labels %s: %w", path, err)
		}
		t := b["labels"]
		switch d := t.Data.(type) {
		case []int64:
			out = append(out, d...)
		case []int32:
			for _, v := range d {
				out = append(out, int64(v))
			}
		case []uint8:
			for _, v := range d {
				out = append(out, int64(v))
			}
		default:
			return nil, fmt.Errorf("labels %s: want integer labels, got %v", path, t.DType)
		}
	}
}

// jsonSafe replaces NaN and Inf, which JSON cannot hold, by nil.
func jsonSafe(s *summary) any {
	b, err := json.Marshal(struct {
		*summary
		Eval any `json:"eval,omitempty"`
	}{s, evalJSON(s.Eval)})
	if err != nil {
		return s
	}
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}

func evalJSON(r *compare.Report) any {
	if r == nil {
		return nil
	}
	num := func(x float64) any {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			if math.IsInf(x, 1) {
				return "inf"
			}
			return nil
		}
		return x
	}
	var outs []map[string]any
	for _, o := range r.Outputs {
		outs = append(outs, map[string]any{"name": o.Name, "sqnr_db": num(o.SQNR), "cosine": num(o.Cosine),
			"max_abs_error": num(o.MaxAbs), "argmax_agreement": num(o.ArgmaxAgreement)})
	}
	return map[string]any{"samples": r.Samples, "outputs": outs, "reference_top1": num(r.RefAccuracy), "test_top1": num(r.TestAccuracy)}
}

// quantizedByOp is the number of quantized nodes and their count per op
// type: "7 (Conv 2, Gemm 2, ...)".
func (s *summary) quantizedByOp() string {
	total := 0
	var ops []string
	for op, n := range s.Quantized {
		total += n
		ops = append(ops, fmt.Sprintf("%s %d", op, n))
	}
	sort.Strings(ops)
	return fmt.Sprintf("%d (%s)", total, strings.Join(ops, ", "))
}

func printSummary(w io.Writer, s *summary) {
	fmt.Fprintf(w, "ptq: quantized %s -> %s (%s", s.Model, s.Output, s.Mode)
	if s.Method != "" {
		fmt.Fprintf(w, ", %s, %d calibration samples", s.Method, s.Samples)
	}
	fmt.Fprintf(w, ")\n")
	fmt.Fprintf(w, "  nodes quantized: %s\n", s.quantizedByOp())
	if len(s.Folded) > 0 {
		fmt.Fprintf(w, "  activations folded into the preceding op: %d\n", len(s.Folded))
	}
	if len(s.Float) > 0 {
		fmt.Fprintf(w, "  left in float: %d\n", len(s.Float))
		reasons := map[string]int{}
		for _, f := range s.Float {
			reasons[f.OpType+": "+f.Reason]++
		}
		var keys []string
		for k := range reasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "    %3d × %s\n", reasons[k], k)
		}
	}
	if s.IntegerNodes > 0 {
		fmt.Fprintf(w, "  integer and shape nodes not listed: %d\n", s.IntegerNodes)
	}
	fmt.Fprintf(w, "  size: %s -> %s\n", human(s.SizeBefore), human(s.SizeAfter))
	if fb := s.Fallback; fb != nil {
		state := "met"
		if !fb.Met {
			state = "NOT met"
		}
		fmt.Fprintf(w, "  target %s: %s (%.2f before, %.2f after); kept in float: %d\n", fb.Target, state, fb.Before, fb.After, len(fb.KeptFloat))
		for _, n := range fb.KeptFloat {
			fmt.Fprintf(w, "    %s\n", n)
		}
	}
	if e := s.CLE; e != nil {
		kept := "none kept (each lowered the SQNR)"
		if len(e.Kept) > 0 {
			kept = strings.Join(e.Kept, ", ")
		}
		fmt.Fprintf(w, "  cle: %d pairs equalized, output SQNR %.2f dB without, %.2f dB with; kept: %s\n", e.Pairs, e.Before, e.After, kept)
	}
	if r := s.Eval; r != nil {
		fmt.Fprintf(w, "  quality on %d samples (ptq engine, float vs quantized):\n", r.Samples)
		printOutputs(w, "    ", "", r)
	}
}

// printOutputs writes one line per compared output (label before its name)
// and the top-1 accuracies when labels were given, each line indented.
func printOutputs(w io.Writer, indent, label string, r *compare.Report) {
	for _, o := range r.Outputs {
		fmt.Fprintf(w, "%s%s%s: SQNR %.2f dB, cosine %.5f, max |error| %.4g", indent, label, o.Name, o.SQNR, o.Cosine, o.MaxAbs)
		if !math.IsNaN(o.ArgmaxAgreement) {
			fmt.Fprintf(w, ", argmax agreement %.2f%%", 100*o.ArgmaxAgreement)
		}
		fmt.Fprintln(w)
	}
	if !math.IsNaN(r.RefAccuracy) {
		fmt.Fprintf(w, "%stop-1 accuracy: float %.2f%%, quantized %.2f%%\n", indent, 100*r.RefAccuracy, 100*r.TestAccuracy)
	}
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

var _ = quant.Int8
