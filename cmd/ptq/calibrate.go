package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/dataset"
	"github.com/ptq-dev/ptq/kernels"
)

func calibrateCmd() *cli.Command {
	return &cli.Command{
		Name:      "calibrate",
		Usage:     "collect calibration statistics of a model's tensors on sample data",
		ArgsUsage: "MODEL  (or, with --merge, STATS.json...)",
		Description: "Runs MODEL with the float engine over --data and writes the raw statistics of\n" +
			"every float tensor (count, min, max, histogram; see --method) to -o as JSON. The\n" +
			"ranges are chosen later, by `ptq quantize --stats`, which merges any number of\n" +
			"such files. --shard k/n calibrates only the k-th (0-based) of n consecutive parts of\n" +
			"the data; merging the n files gives exactly the statistics of one run over all of\n" +
			"it. --merge merges statistics files given as arguments into -o.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "stats.json", Usage: "statistics file to write"},
			&cli.StringSliceFlag{Name: "method", Usage: "range methods the statistics must serve (repeat or comma-separate): " +
				"minmax, moving-average[:C], percentile[:P], percentile-two-sided[:P], entropy, mse, aciq-laplace, aciq-gauss " +
				"(default: a histogram, which serves all but moving-average)"},
			&cli.StringFlag{Name: "granularity", Value: "tensor", Usage: "statistics per tensor, per channel (channel:AXIS) or per group of channels (group:AXIS:SIZE) " +
				"of every activation; tensors without that axis stay per tensor"},
			&cli.StringFlag{Name: "shard", Usage: "k/n: calibrate part k (0-based) of n of the data"},
			&cli.IntFlag{Name: "batch", Value: 1, Usage: "samples per engine run when the model's batch dimension is symbolic"},
			&cli.IntFlag{Name: "threads", Usage: "goroutines per operator (0: all cores)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			&cli.BoolFlag{Name: "skip-nonfinite", Usage: "drop samples holding NaN or Inf (counted) instead of failing"},
			&cli.BoolFlag{Name: "merge", Usage: "merge the statistics files given as arguments into --out"},
		}, runDataFlags()...),
		Action: calibrateAction,
	}
}

func calibrateAction(c *cli.Context) error {
	if c.Bool("merge") {
		return calibrateMerge(c)
	}
	if err := needArgs(c, 1, "MODEL"); err != nil {
		return err
	}
	data := c.String("data")
	if data == "" {
		return usagef("calibrate: no calibration data; give --data PATH (a .npy or .npz file, a folder of them, " +
			"a folder of test_data_set_*/input_N.pb, or a folder of images) with samples like those the model will see. " +
			"--data random calibrates on random numbers, for smoke tests only")
	}
	needs, err := calibrateNeeds(c.StringSlice("method"))
	if err != nil {
		return usagef("calibrate: %v", err)
	}
	shard, shards, err := calibrateParseShard(c.String("shard"))
	if err != nil {
		return usagef("calibrate: %v", err)
	}
	gran, err := calibrateParseGranularity(c.String("granularity"))
	if err != nil {
		return usagef("calibrate: %v", err)
	}
	batch := c.Int("batch")
	if batch < 1 {
		return usagef("calibrate: --batch %d, want at least 1", batch)
	}
	model := c.Args().First()
	e, _, err := runLoadEngine(model, c.Int("threads"))
	if err != nil {
		return err
	}
	if batch > 1 && !runSymbolicBatch(e.Inputs()) {
		fmt.Fprintf(c.App.ErrWriter, "calibrate: the model's batch dimension is fixed; --batch ignored\n")
		batch = 1
	}
	if data == dataset.RandomPath {
		fmt.Fprintf(c.App.ErrWriter, "calibrate: WARNING: --data random: the statistics describe random numbers, not your data; ranges chosen from them are meaningless\n")
	}
	r, err := calibrateOpenData(c, e.Inputs(), batch)
	if err != nil {
		return err
	}
	defer r.Close()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(runGCPercent)
	}
	opts := calibrate.RunOptions{Needs: needs, Granularity: gran, Shard: shard, Shards: shards, Model: filepath.Base(model)}
	opts.Progress = progressWriter(c)
	ctx, stop := interruptible(c)
	defer stop()
	st, err := calibrate.Run(ctx, e, r, opts)
	if err != nil {
		return err
	}
	if st.Samples == 0 {
		return fmt.Errorf("calibrate: no samples observed (shard %d/%d of %d samples)", shard, shards, r.Len())
	}
	if err := calibrate.WriteFile(c.String("out"), st); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	where := ""
	if shards > 1 {
		where = fmt.Sprintf(" (shard %d/%d)", shard, shards)
	}
	fmt.Fprintf(c.App.Writer, "calibrated %d samples%s, %d tensors", st.Samples, where, len(st.Tensors))
	if c.Bool("skip-nonfinite") {
		fmt.Fprintf(c.App.Writer, "; skipped %d samples holding NaN or Inf", st.Skipped)
	}
	fmt.Fprintf(c.App.Writer, "; wrote %s\n", c.String("out"))
	return nil
}

func calibrateMerge(c *cli.Context) error {
	if c.NArg() == 0 {
		return usagef("calibrate --merge: give the statistics files to merge")
	}
	st, err := calibrate.MergeFiles(c.Args().Slice()...)
	if err != nil {
		return err
	}
	if err := calibrate.WriteFile(c.String("out"), st); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "merged %d files (%d samples, shards %v of %d); wrote %s\n", c.NArg(), st.Samples, st.Shards, st.Of, c.String("out"))
	if st.Of > 0 && len(st.Shards) != st.Of {
		fmt.Fprintf(c.App.ErrWriter, "calibrate: WARNING: %d of %d shards merged\n", len(st.Shards), st.Of)
	}
	return nil
}

// calibrateNeeds combines what the named methods read; none means a
// histogram.
func calibrateNeeds(names []string) (calibrate.Needs, error) {
	var needs calibrate.Needs
	n := 0
	for _, arg := range names {
		for _, name := range strings.Split(arg, ",") {
			if strings.TrimSpace(name) == "" {
				continue
			}
			m, err := calibrate.ParseMethod(name)
			if err != nil {
				return needs, err
			}
			if needs, err = needs.Union(m.Needs()); err != nil {
				return needs, err
			}
			n++
		}
	}
	if n == 0 {
		needs.HistogramBins = calibrate.DefaultHistogramBins
	}
	return needs, nil
}

// calibrateParseGranularity reads tensor, channel:AXIS or group:AXIS:SIZE.
func calibrateParseGranularity(s string) (calibrate.Granularity, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	bad := fmt.Errorf("--granularity %q: want tensor, channel:AXIS or group:AXIS:SIZE", s)
	nums := make([]int, len(parts)-1)
	for i, p := range parts[1:] {
		v, err := strconv.Atoi(p)
		if err != nil {
			return calibrate.Granularity{}, bad
		}
		nums[i] = v
	}
	switch {
	case parts[0] == "tensor" && len(nums) == 0:
		return calibrate.Granularity{}, nil
	case parts[0] == "channel" && len(nums) == 1:
		return calibrate.Granularity{Kind: calibrate.PerChannel, Axis: nums[0]}, nil
	case parts[0] == "group" && len(nums) == 2 && nums[1] >= 1:
		return calibrate.Granularity{Kind: calibrate.PerGroup, Axis: nums[0], Size: nums[1]}, nil
	}
	return calibrate.Granularity{}, bad
}

// calibrateParseShard reads "k/n" (0 <= k < n); "" is the whole data.
func calibrateParseShard(s string) (int, int, error) {
	if s == "" {
		return 0, 1, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(strings.TrimSpace(ks))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 0 || k >= n {
		return 0, 0, fmt.Errorf("--shard %q: want k/n with 0 <= k < n (k is 0-based)", s)
	}
	return k, n, nil
}

// calibrateOpenData is runOpenData with --skip-nonfinite.
func calibrateOpenData(c *cli.Context, specs []kernels.ValueSpec, batch int) (dataset.Reader, error) {
	opts := dataset.Options{
		Batch:         batch,
		Samples:       c.Int("samples"),
		Layout:        c.String("layout"),
		Channels:      c.String("channels"),
		SkipNonFinite: c.Bool("skip-nonfinite"),
		Warn:          c.App.ErrWriter,
	}
	var err error
	if s := c.String("image-size"); s != "" {
		if opts.ImageSize, err = runParseSize(s); err != nil {
			return nil, err
		}
	}
	if opts.Mean, err = runParseFloats("mean", c.String("mean")); err != nil {
		return nil, err
	}
	if opts.Std, err = runParseFloats("std", c.String("std")); err != nil {
		return nil, err
	}
	for _, s := range opts.Std {
		if s == 0 {
			return nil, fmt.Errorf("--std %q: zero standard deviation", c.String("std"))
		}
	}
	return dataset.Open(c.String("data"), runDatasetInputs(specs), opts)
}
