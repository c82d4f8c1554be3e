// Package calibrate chooses clipping ranges for quantization from data.
//
// Calibration has two halves. Observers (TensorStats) collect statistics of
// the tensors a model produces, in one pass and in memory that does not
// depend on the number of samples: count, exact zeros, min and max, and on
// request a histogram and a moving average of batch extremes. Methods
// (MinMax, MovingAverageMinMax, Percentile, Entropy, MSE, ACIQ) then turn
// the statistics of each slot (a tensor, a channel, a group or a block) into
// a range. Statistics are saved in versioned JSON files (Stats) and merge
// exactly: the histogram lives on a power-of-two grid that only ever
// doubles, so calibrating shards of the data on different machines and
// merging the files gives the statistics, and hence the ranges, of one run
// over all the data, bit for bit.
//
// Run drives the float engine over a data set and observes every float
// tensor of interest.
package calibrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// FileFormat and FileVersion identify a statistics file.
const (
	FileFormat  = "ptq-calibration-stats"
	FileVersion = 1
)

// Stats are the statistics of one calibration run, or of several merged.
//
// The JSON form (FileFormat, version 1) is:
//
//	{
//	  "format": "ptq-calibration-stats",
//	  "version": 1,
//	  "model": "resnet18.onnx",          // informational
//	  "shards": [0, 1], "of": 4,           // which shards k of n it holds; omitted unsharded
//	  "samples": 500,                      // samples observed
//	  "skipped_nonfinite": 0,              // samples dropped for NaN/Inf (--skip-nonfinite)
//	  "needs": {"histogram_bins": 8192, "moving_average": 0.01},
//	  "tensors": {
//	    "<value name>": {
//	      "granularity": {"kind": "channel", "axis": 1},   // {} is per tensor
//	      "needs": {...},
//	      "slots": [64],                   // shape of the slot grid ([] per tensor)
//	      "summaries": [                   // one per slot, row-major
//	        {"count": 802816, "zeros": 0, "min": -2.1, "max": 2.6,
//	         "hist": {"max_bins": 8192, "exp": -11, "offset": -4301, "counts": [1, 0, 3, ...]},
//	         "ema": {"constant": 0.01, "batches": 50, "first_min": ..., "first_max": ...,
//	                 "rest_min": ..., "rest_max": ..., "decay": ...}}
//	      ]
//	    }
//	  }
//	}
//
// Histogram bin i of a summary holds the values in
// [(offset+i)·2^exp, (offset+i+1)·2^exp); counts start and end non-zero.
// min and max are float32 values written exactly (shortest round-trip form).
type Stats struct {
	Format  string                  `json:"format"`
	Version int                     `json:"version"`
	Model   string                  `json:"model,omitempty"`
	Shards  []int                   `json:"shards,omitempty"`
	Of      int                     `json:"of,omitempty"`
	Samples int64                   `json:"samples"`
	Skipped int64                   `json:"skipped_nonfinite"`
	Needs   Needs                   `json:"needs"`
	Tensors map[string]*TensorStats `json:"tensors"`
}

// NewStats returns empty statistics collecting needs.
func NewStats(needs Needs) *Stats {
	return &Stats{Format: FileFormat, Version: FileVersion, Needs: needs, Tensors: map[string]*TensorStats{}}
}

// Ranges applies m to every tensor.
func (s *Stats) Ranges(m Method, t Target) (map[string][]Range, error) {
	out := make(map[string][]Range, len(s.Tensors))
	var errs []error
	for _, name := range s.Names() {
		r, err := s.Tensors[name].Ranges(m, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("tensor %q: %w", name, err))
			continue
		}
		out[name] = r
	}
	return out, errors.Join(errs...)
}

// Names lists the observed tensors in sorted order.
func (s *Stats) Names() []string {
	names := make([]string, 0, len(s.Tensors))
	for n := range s.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Merge adds o's statistics to s. Both must have collected the same
// statistics; shard lists must not overlap. Moving averages treat o's
// batches as coming after s's (MergeFiles orders files by shard).
func (s *Stats) Merge(o *Stats) error {
	if s.Needs != o.Needs {
		return fmt.Errorf("calibrate: merging statistics collected with %+v into %+v; calibrate every shard with the same --method", o.Needs, s.Needs)
	}
	if s.Of != o.Of && s.Of != 0 && o.Of != 0 {
		return fmt.Errorf("calibrate: merging shards of %d into shards of %d", o.Of, s.Of)
	}
	seen := map[int]bool{}
	for _, k := range s.Shards {
		seen[k] = true
	}
	for _, k := range o.Shards {
		if seen[k] {
			return fmt.Errorf("calibrate: shard %d/%d given twice", k, max(s.Of, o.Of))
		}
	}
	for _, name := range o.Names() {
		ot := o.Tensors[name]
		st := s.Tensors[name]
		if st == nil {
			st = NewObserver(ot.Granularity, ot.Needs)
			s.Tensors[name] = st
		}
		if err := st.Merge(ot); err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
	}
	s.Shards = append(s.Shards, o.Shards...)
	sort.Ints(s.Shards)
	s.Of = max(s.Of, o.Of)
	s.Samples += o.Samples
	s.Skipped += o.Skipped
	if s.Model == "" {
		s.Model = o.Model
	}
	return nil
}

// Write writes s as one line of JSON.
func (s *Stats) Write(w io.Writer) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Read reads statistics written by Write, checking format and version.
func Read(r io.Reader) (*Stats, error) {
	var s Stats
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("calibration statistics: %w", err)
	}
	if s.Format != FileFormat {
		return nil, fmt.Errorf("not a calibration statistics file (format %q, want %q)", s.Format, FileFormat)
	}
	if s.Version != FileVersion {
		return nil, fmt.Errorf("calibration statistics version %d; this ptq reads version %d", s.Version, FileVersion)
	}
	if s.Tensors == nil {
		s.Tensors = map[string]*TensorStats{}
	}
	for name, t := range s.Tensors {
		if t == nil || len(t.Summaries) != productOf(t.Slots) {
			return nil, fmt.Errorf("calibration statistics: tensor %q: slot grid and summaries disagree", name)
		}
	}
	return &s, nil
}

func productOf(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// WriteFile writes s to path atomically (a temporary file renamed).
func WriteFile(path string, s *Stats) error {
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".stats-*.json")
	if err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadFile reads one statistics file.
func ReadFile(path string) (*Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// MergeFiles reads and merges statistics files in shard order (files
// without shards last, in the order given), so that moving averages run
// over the shards in sequence.
func MergeFiles(paths ...string) (*Stats, error) {
	if len(paths) == 0 {
		return nil, errors.New("calibrate: no statistics files to merge")
	}
	all := make([]*Stats, len(paths))
	for i, p := range paths {
		s, err := ReadFile(p)
		if err != nil {
			return nil, err
		}
		all[i] = s
	}
	return MergeStats(all...)
}

// MergeStats merges in shard order into a new Stats; the inputs are not
// changed.
func MergeStats(all ...*Stats) (*Stats, error) {
	if len(all) == 0 {
		return nil, errors.New("calibrate: nothing to merge")
	}
	order := append([]*Stats(nil), all...)
	first := func(s *Stats) int {
		if len(s.Shards) == 0 {
			return int(^uint(0) >> 1)
		}
		return s.Shards[0]
	}
	sort.SliceStable(order, func(i, j int) bool { return first(order[i]) < first(order[j]) })
	out := NewStats(order[0].Needs)
	for _, s := range order {
		if err := out.Merge(s); err != nil {
			return nil, err
		}
	}
	return out, nil
}
