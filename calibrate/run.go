package calibrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/ptq-dev/ptq/dataset"
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/kernels"
	"github.com/ptq-dev/ptq/tensor"
)

// RunOptions configure Run.
type RunOptions struct {
	// Values lists the tensors to observe (graph inputs or values produced by
	// nodes) with their granularity. Nil means every float32 tensor the
	// model takes or produces, per tensor.
	Values map[string]Granularity
	// Granularity applies to every tensor when Values is nil; a tensor whose
	// rank has no such axis is observed per tensor.
	Granularity Granularity
	// Needs are the statistics to collect (the Union of the methods' Needs).
	Needs Needs
	// Shard and Shards select shard Shard (0-based) of Shards; Shards 0 or 1
	// means all the data. The data are split into Shards consecutive runs of
	// whole batches by the index of each batch's first sample, so every shard
	// reads the data (cheap) but runs the model only on its own part, and the
	// batches are the same as in one unsharded run. The number of samples
	// must be known (Reader.Len >= 0).
	Shard, Shards int
	// Progress receives a progress bar (samples/s, ETA); nil for none.
	Progress io.Writer
	// Model is recorded in the statistics, for the reader's information.
	Model string
	// NonFloat, when not nil, receives the names of the tensors the model
	// produced with an element type other than float32 (shape arithmetic,
	// indices, masks), so that reports can tell them from float tensors.
	NonFloat map[string]bool
}

// Run feeds every batch of data through eng and observes the chosen tensors.
// Memory is that of the engine for one batch plus the statistics, whatever
// the number of samples. The reader's own checks (dataset.Options
// SkipNonFinite, sample indices in errors) apply to the inputs; a NaN
// produced inside the model is an error naming the tensor and the samples,
// while ±Inf inside it (an attention mask) is counted and leaves that tensor
// without a range (see TensorStats.Observe).
func Run(ctx context.Context, eng *kernels.Engine, data dataset.Reader, opts RunOptions) (*Stats, error) {
	shards := max(opts.Shards, 1)
	if opts.Shard < 0 || opts.Shard >= shards {
		return nil, fmt.Errorf("calibrate: shard %d of %d", opts.Shard, shards)
	}
	total := data.Len()
	if shards > 1 && total < 0 {
		return nil, errors.New("calibrate: sharding needs the number of samples, which this data source does not know; give --samples N")
	}
	// Samples [from, to) are this shard's.
	from, to := 0, total
	if shards > 1 {
		from, to = opts.Shard*total/shards, (opts.Shard+1)*total/shards
	}
	st := NewStats(opts.Needs)
	st.Model = opts.Model
	if shards > 1 {
		st.Shards, st.Of = []int{opts.Shard}, shards
	}
	var bar *progressbar.ProgressBar
	if opts.Progress != nil {
		n := -1
		if total >= 0 {
			n = to - from
		}
		bar = progressbar.NewOptions(n,
			progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription("calibrating"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("samples"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		defer bar.Finish()
	}
	observer := func(name string, shape []int) *TensorStats {
		o := st.Tensors[name]
		if o != nil {
			return o
		}
		g := opts.Granularity
		if _, err := g.layout(shape); err != nil {
			g = Granularity{}
		}
		if opts.Values != nil {
			var ok bool
			if g, ok = opts.Values[name]; !ok {
				return nil
			}
		}
		o = NewObserver(g, opts.Needs)
		st.Tensors[name] = o
		return o
	}
	var first, last int // samples of the current batch
	hook := func(value string, _ *graph.Node, t *tensor.Tensor) error {
		if t.DType != tensor.Float {
			if opts.NonFloat != nil {
				opts.NonFloat[value] = true
			}
			return nil
		}
		o := observer(value, t.Shape)
		if o == nil {
			return nil
		}
		return o.Observe(t)
	}
	seen := 0
	skipped := dataset.Skipped(data)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := data.Next()
		if err == io.EOF {
			if opts.Shard == shards-1 {
				st.Skipped += int64(dataset.Skipped(data) - skipped)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		n := batchSize(batch)
		first, last = seen, seen+n-1
		seen += n
		mine := shards == 1 || (first >= from && (first < to || opts.Shard == shards-1))
		if s := dataset.Skipped(data); mine {
			st.Skipped += int64(s - skipped)
			skipped = s
		} else {
			skipped = s
			continue
		}
		for name, t := range batch {
			if err := hook(name, nil, t); err != nil {
				return nil, fmt.Errorf("calibrate: samples %d-%d: input %q: %w", first, last, name, err)
			}
		}
		if _, err := eng.Run(batch, hook); err != nil {
			return nil, fmt.Errorf("calibrate: samples %d-%d: %w", first, last, err)
		}
		st.Samples += int64(n)
		if bar != nil {
			bar.Add(n)
		}
	}
	return st, nil
}

// batchSize is the first dimension of the batch's inputs (1 for scalars).
func batchSize(b map[string]*tensor.Tensor) int {
	for _, t := range b {
		if len(t.Shape) > 0 {
			return t.Shape[0]
		}
	}
	return 1
}
