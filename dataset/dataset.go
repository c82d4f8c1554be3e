// Package dataset reads the input samples that `ptq run`, `ptq calibrate` and
// `ptq quantize` feed to a model: NumPy .npy and .npz files, folders of them,
// folders of ONNX test_data_set_N/input_K.pb, folders of JPEG/PNG images, or
// seeded random data.
//
// Samples are streamed: a Reader holds at most one batch in memory, however
// large the source. Every sample is checked against the model's inputs
// (name, element type, fixed dimensions, finite values) and errors name the
// file, the input and the sample index.
package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/ptq-dev/ptq/tensor"
)

// Input describes one model input, as the model's graph declares it.
type Input struct {
	Name  string
	DType tensor.DType // Undefined: accept any element type
	// Shape has one entry per dimension, -1 where it is symbolic; nil when
	// the model declares no shape.
	Shape []int64
}

// Options controls how samples are read and grouped.
type Options struct {
	// Batch is how many samples one Next returns when the model's batch
	// (first) dimension is symbolic; 0 or 1 means one. When the batch
	// dimension is fixed at k, Next returns k samples stacked, whatever Batch.
	Batch int
	// Samples caps the number of samples read; 0 means all.
	Samples int

	// ImageSize is the (height, width) images are resized to; zero means the
	// model's fixed spatial dimensions, or each image's own size.
	ImageSize [2]int
	// Mean and Std normalise image pixels after scaling by PixelScale:
	// (p*PixelScale - Mean[c]) / Std[c]. One value applies to every channel.
	Mean, Std []float32
	// PixelScale multiplies 8-bit pixel values first; 0 means 1/255.
	PixelScale float32
	// Layout is "nchw" or "nhwc"; empty means inferred from the model input
	// (the axis of size 1 or 3).
	Layout string
	// Channels is "rgb" (default) or "bgr".
	Channels string

	// Random generates seeded standard-normal data (uniform small integers
	// for integer inputs) instead of reading a path; the path "random" does
	// the same. Samples defaults to 16 then.
	Random bool
	// Seed seeds the random data; 0 means 1.
	Seed int64

	// SkipNonFinite drops samples that hold NaN or Inf (counted by Skipped)
	// instead of failing on them.
	SkipNonFinite bool

	// Warn receives warnings (random data, float64 narrowed to float32,
	// dropped leftover samples); nil means os.Stderr.
	Warn io.Writer
}

// Reader yields the model inputs batch by batch.
type Reader interface {
	// Next returns the next batch keyed by input name, or io.EOF at the end.
	Next() (map[string]*tensor.Tensor, error)
	// Len is the number of samples the source holds (after Options.Samples),
	// or -1 when unknown.
	Len() int
	Close() error
}

// RandomPath is the path keyword that asks for random data.
const RandomPath = "random"

// sample is one sample as a source yields it: per input, a tensor either of
// the model input's rank (it carries its own batch axis) or of one less
// (a single item, stacked with others on a new first axis).
type sample struct {
	tensors map[string]*tensor.Tensor
	where   string // file (and index) for error messages
}

// source produces samples one by one.
type source interface {
	next() (*sample, error) // io.EOF at the end
	len() int               // -1 unknown
	close() error
}

// Open opens a data source for a model with the given inputs.
func Open(path string, inputs []Input, opts Options) (Reader, error) {
	if len(inputs) == 0 {
		return nil, errors.New("dataset: the model has no inputs to feed")
	}
	if opts.Layout != "" && opts.Layout != "nchw" && opts.Layout != "nhwc" {
		return nil, fmt.Errorf("dataset: layout %q: want nchw or nhwc", opts.Layout)
	}
	if opts.Channels != "" && opts.Channels != "rgb" && opts.Channels != "bgr" {
		return nil, fmt.Errorf("dataset: channels %q: want rgb or bgr", opts.Channels)
	}
	if opts.Samples < 0 || opts.Batch < 0 {
		return nil, fmt.Errorf("dataset: negative samples (%d) or batch (%d)", opts.Samples, opts.Batch)
	}
	r := &stream{inputs: inputs, opts: opts, hash: sha256.New()}
	if r.opts.Warn == nil {
		r.opts.Warn = os.Stderr
	}
	var err error
	switch {
	case opts.Random || path == RandomPath:
		if r.opts.Samples == 0 {
			r.opts.Samples = 16
		}
		r.src, err = newRandomSource(inputs, r.opts)
	default:
		r.src, err = openPath(path, inputs, r.opts)
	}
	if err != nil {
		return nil, err
	}
	r.plan()
	return r, nil
}

// openPath picks the source for a file or folder.
func openPath(path string, inputs []Input, opts Options) (source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if !st.IsDir() {
		switch strings.ToLower(fileExt(path)) {
		case ".npy":
			return newNpySource(path, inputs)
		case ".npz":
			return newNpzSource(path, inputs)
		case ".pb":
			return newPBSource([]string{path}, inputs, true)
		case ".jpg", ".jpeg", ".png":
			return newImageSource([]string{path}, inputs, opts)
		}
		return nil, fmt.Errorf("dataset: %s: unknown data file type (want .npy, .npz, .pb, .jpg, .png or a folder)", path)
	}
	return openFolder(path, inputs, opts)
}

func fileExt(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 && !strings.ContainsRune(p[i:], os.PathSeparator) {
		return p[i:]
	}
	return ""
}

// stream validates, batches and hashes the samples of a source.
type stream struct {
	src    source
	inputs []Input
	opts   Options

	perNext int  // items stacked per Next
	fixed   bool // the batch dimension is fixed, so perNext is exact

	read    int // samples taken from the source (including skipped)
	emitted int // samples returned
	skipped int
	hash    hash.Hash
	warned  map[string]bool
	done    bool
}

// plan decides how many samples one Next stacks.
func (r *stream) plan() {
	r.perNext = 1
	symbolic := true
	fixedK := -1
	for _, in := range r.inputs {
		if len(in.Shape) == 0 || in.Shape[0] >= 0 {
			symbolic = false
		}
		if len(in.Shape) > 0 && in.Shape[0] > 0 {
			fixedK = int(in.Shape[0])
		}
	}
	switch {
	case symbolic && r.opts.Batch > 1:
		r.perNext = r.opts.Batch
	case !symbolic && fixedK > 1:
		r.perNext, r.fixed = fixedK, true
	}
}

func (r *stream) warnOnce(key, format string, args ...any) {
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	if r.warned[key] {
		return
	}
	r.warned[key] = true
	fmt.Fprintf(r.opts.Warn, "dataset: warning: "+format+"\n", args...)
}

// Len reports the number of samples, capped by Options.Samples.
func (r *stream) Len() int {
	n := r.src.len()
	if r.opts.Samples > 0 && (n < 0 || n > r.opts.Samples) {
		return r.opts.Samples
	}
	return n
}

// Close releases the source's files.
func (r *stream) Close() error { return r.src.close() }

// Skipped is how many samples were dropped for holding NaN or Inf.
func (r *stream) Skipped() int { return r.skipped }

// Digest is the hex SHA-256 of the samples returned so far.
func (r *stream) Digest() string { return hex.EncodeToString(r.hash.Sum(nil)) }

// Next returns the next batch, or io.EOF.
func (r *stream) Next() (map[string]*tensor.Tensor, error) {
	var parts []map[string]*tensor.Tensor
	items := 0
	for !r.done && items < r.perNext {
		if r.opts.Samples > 0 && r.emitted+len(parts) >= r.opts.Samples {
			r.done = true
			break
		}
		s, err := r.src.next()
		if err == io.EOF {
			r.done = true
			break
		}
		if err != nil {
			return nil, err
		}
		idx := r.read
		r.read++
		ts, chunk, err := r.check(s, idx)
		if err != nil {
			if errors.Is(err, errNonFinite) && r.opts.SkipNonFinite {
				r.skipped++
				continue
			}
			return nil, err
		}
		parts = append(parts, ts)
		if chunk {
			items = r.perNext // a sample with its own batch axis goes alone
		} else {
			items++
		}
	}
	if len(parts) == 0 {
		return nil, io.EOF
	}
	if r.fixed && items < r.perNext {
		r.warnOnce("leftover", "%d samples left over at the end do not fill the model's fixed batch of %d; dropped", items, r.perNext)
		return nil, io.EOF
	}
	for _, p := range parts {
		r.hashSample(p)
	}
	r.emitted += len(parts)
	if len(parts) == 1 {
		return parts[0], nil
	}
	out := map[string]*tensor.Tensor{}
	for _, in := range r.inputs {
		ts := make([]*tensor.Tensor, len(parts))
		for i, p := range parts {
			ts[i] = p[in.Name]
		}
		t, err := concat0(ts)
		if err != nil {
			return nil, fmt.Errorf("dataset: input %q: samples %d-%d: %w", in.Name, r.emitted-len(parts), r.emitted-1, err)
		}
		out[in.Name] = t
	}
	return out, nil
}

var errNonFinite = errors.New("non-finite value")

// check validates one sample against the inputs, converting float64 to
// float32 where the model wants float32 and giving items a batch axis of 1.
// chunk reports a sample that carried its own batch axis.
func (r *stream) check(s *sample, idx int) (map[string]*tensor.Tensor, bool, error) {
	out := map[string]*tensor.Tensor{}
	chunk := false
	for _, in := range r.inputs {
		t, ok := s.tensors[in.Name]
		if !ok {
			return nil, false, fmt.Errorf("dataset: %s: no data for input %q", s.where, in.Name)
		}
		if in.DType != tensor.Undefined && t.DType != in.DType {
			if t.DType == tensor.Double && in.DType == tensor.Float {
				// The one implicit conversion: NumPy's default float64
				// narrowed to the float32 models almost always take.
				r.warnOnce("f64:"+in.Name, "input %q: float64 data narrowed to float32", in.Name)
				t = toFloat32(t)
			} else {
				return nil, false, fmt.Errorf("dataset: %s: input %q: element type %v, the model wants %v", s.where, in.Name, t.DType, in.DType)
			}
		}
		if in.Shape != nil {
			switch len(t.Shape) {
			case len(in.Shape):
				chunk = true
			case len(in.Shape) - 1:
				t = &tensor.Tensor{DType: t.DType, Shape: append([]int{1}, t.Shape...), Data: t.Data}
			default:
				return nil, false, fmt.Errorf("dataset: %s: input %q: shape %v, the model wants %s (rank %d, or %d without the batch axis)",
					s.where, in.Name, t.Shape, fmtShape(in.Shape), len(in.Shape), len(in.Shape)-1)
			}
			for i, d := range in.Shape {
				if d < 0 || int(d) == t.Shape[i] {
					continue
				}
				if i == 0 && !chunk {
					continue // items are stacked to the fixed batch size
				}
				return nil, false, fmt.Errorf("dataset: %s: input %q: shape %v, the model wants %s (dimension %d: expected %d, given %d)",
					s.where, in.Name, t.Shape, fmtShape(in.Shape), i, d, t.Shape[i])
			}
		}
		if at, bad := firstNonFinite(t); bad {
			return nil, false, fmt.Errorf("dataset: %s: input %q, sample %d: %w at element %d", s.where, in.Name, idx, errNonFinite, at)
		}
		out[in.Name] = t
	}
	return out, chunk, nil
}

func fmtShape(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func toFloat32(t *tensor.Tensor) *tensor.Tensor {
	src := t.Data.([]float64)
	d := make([]float32, len(src))
	for i, v := range src {
		d[i] = float32(v)
	}
	return tensor.FromFloat32(d, t.Shape...)
}

func firstNonFinite(t *tensor.Tensor) (int, bool) {
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range d {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return i, true
			}
		}
	case []float64:
		for i, v := range d {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return i, true
			}
		}
	case []uint16:
		if t.DType == tensor.Float16 {
			for i, v := range d {
				if v&0x7c00 == 0x7c00 {
					return i, true
				}
			}
		}
	}
	return 0, false
}

// hashSample adds one sample to the digest: inputs in name order, each as
// name, element type, shape and little-endian data, so that the digest does
// not depend on batching.
func (r *stream) hashSample(s map[string]*tensor.Tensor) {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf [8]byte
	for _, n := range names {
		t := s[n]
		fmt.Fprintf(r.hash, "%s\x00%d\x00%v\x00", n, t.DType, t.Shape)
		switch d := t.Data.(type) {
		case []bool:
			for _, v := range d {
				if v {
					r.hash.Write([]byte{1})
				} else {
					r.hash.Write([]byte{0})
				}
			}
		case []string:
			for _, v := range d {
				binary.LittleEndian.PutUint64(buf[:], uint64(len(v)))
				r.hash.Write(buf[:])
				io.WriteString(r.hash, v)
			}
		default:
			binary.Write(r.hash, binary.LittleEndian, d)
		}
	}
}

// Skipped returns how many samples a Reader from Open dropped for holding
// NaN or Inf (Options.SkipNonFinite); 0 for other readers.
func Skipped(r Reader) int {
	if s, ok := r.(interface{ Skipped() int }); ok {
		return s.Skipped()
	}
	return 0
}

// Digest returns the hex SHA-256 of the samples a Reader from Open has
// returned so far, independent of batching; "" for other readers. The
// rewriter records it so a quantized model names the calibration data it saw.
func Digest(r Reader) string {
	if s, ok := r.(interface{ Digest() string }); ok {
		return s.Digest()
	}
	return ""
}

// concat0 joins tensors of equal type along the first axis.
func concat0(ts []*tensor.Tensor) (*tensor.Tensor, error) {
	first := ts[0]
	shape := append([]int(nil), first.Shape...)
	shape[0] = 0
	for _, t := range ts {
		if t.DType != first.DType || len(t.Shape) != len(first.Shape) {
			return nil, fmt.Errorf("cannot stack %v with %v", t, first)
		}
		for i := 1; i < len(shape); i++ {
			if t.Shape[i] != first.Shape[i] {
				return nil, fmt.Errorf("cannot stack shapes %v and %v (equal sizes needed to batch)", first.Shape, t.Shape)
			}
		}
		shape[0] += t.Shape[0]
	}
	out := tensor.New(first.DType, shape...)
	off := 0
	for _, t := range ts {
		off += tensor.CopyAt(out.Data, t.Data, off)
	}
	return out, nil
}
