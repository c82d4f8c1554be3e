package dataset

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npz"

	"github.com/ptq-dev/ptq/tensor"
)

// npyArray streams the samples of one NumPy array: the header is parsed by
// npyio, then each sample's bytes are read and decoded in turn, so only one
// sample is in memory.
type npyArray struct {
	where  string
	r      io.Reader
	closer io.Closer
	dtype  tensor.DType
	order  binary.ByteOrder
	size   int   // bytes per element
	shape  []int // of one sample
	n      int   // samples
	i      int
	buf    []byte
}

// npyDTypes maps NumPy type codes (without byte order) to element types.
var npyDTypes = map[string]struct {
	dt   tensor.DType
	size int
}{
	"f4": {tensor.Float, 4}, "f8": {tensor.Double, 8}, "f2": {tensor.Float16, 2},
	"i1": {tensor.Int8, 1}, "u1": {tensor.Uint8, 1}, "i2": {tensor.Int16, 2}, "u2": {tensor.Uint16, 2},
	"i4": {tensor.Int32, 4}, "u4": {tensor.Uint32, 4}, "i8": {tensor.Int64, 8}, "u8": {tensor.Uint64, 8},
	"b1": {tensor.Bool, 1},
}

// openNpyArray reads the header from r. modelRank is the rank of the input
// the array feeds (-1 unknown): an array of exactly one less rank is taken
// as a single sample; otherwise its first axis is the sample axis.
func openNpyArray(where string, rc io.ReadCloser, modelRank int) (*npyArray, error) {
	br := bufio.NewReaderSize(rc, 1<<16)
	rd, err := npy.NewReader(br)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("dataset: %s: %w", where, err)
	}
	h := rd.Header.Descr
	code := strings.Trim(h.Type, "'\" ")
	var order binary.ByteOrder = binary.LittleEndian
	if len(code) == 3 {
		switch code[0] {
		case '>':
			order = binary.BigEndian
		case '<', '|', '=':
		default:
			rc.Close()
			return nil, fmt.Errorf("dataset: %s: unknown byte order in dtype %q", where, code)
		}
		code = code[1:]
	}
	ty, ok := npyDTypes[code]
	if !ok {
		rc.Close()
		return nil, fmt.Errorf("dataset: %s: NumPy dtype %q not supported (want float, int, uint or bool)", where, h.Type)
	}
	shape := append([]int(nil), h.Shape...)
	if h.Fortran && len(shape) > 1 {
		rc.Close()
		return nil, fmt.Errorf("dataset: %s: Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray", where)
	}
	a := &npyArray{where: where, r: br, closer: rc, dtype: ty.dt, order: order, size: ty.size}
	if len(shape) == 0 || (modelRank >= 0 && len(shape) == modelRank-1) {
		a.n, a.shape = 1, shape
	} else {
		a.n, a.shape = shape[0], shape[1:]
	}
	a.buf = make([]byte, tensor.NumElements(a.shape)*a.size)
	return a, nil
}

// next decodes the next sample.
func (a *npyArray) next() (*tensor.Tensor, error) {
	if a.i >= a.n {
		return nil, io.EOF
	}
	if _, err := io.ReadFull(a.r, a.buf); err != nil {
		return nil, fmt.Errorf("dataset: %s: sample %d: %w", a.where, a.i, err)
	}
	a.i++
	t := tensor.New(a.dtype, a.shape...)
	b, o := a.buf, a.order
	switch d := t.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = math.Float32frombits(o.Uint32(b[4*i:]))
		}
	case []float64:
		for i := range d {
			d[i] = math.Float64frombits(o.Uint64(b[8*i:]))
		}
	case []int8:
		for i := range d {
			d[i] = int8(b[i])
		}
	case []uint8:
		copy(d, b)
	case []int16:
		for i := range d {
			d[i] = int16(o.Uint16(b[2*i:]))
		}
	case []uint16: // uint16 and float16 bits
		for i := range d {
			d[i] = o.Uint16(b[2*i:])
		}
	case []int32:
		for i := range d {
			d[i] = int32(o.Uint32(b[4*i:]))
		}
	case []uint32:
		for i := range d {
			d[i] = o.Uint32(b[4*i:])
		}
	case []int64:
		for i := range d {
			d[i] = int64(o.Uint64(b[8*i:]))
		}
	case []uint64:
		for i := range d {
			d[i] = o.Uint64(b[8*i:])
		}
	case []bool:
		for i := range d {
			d[i] = b[i] != 0
		}
	}
	return t, nil
}

func (a *npyArray) close() error { return a.closer.Close() }

func inputRank(in Input) int {
	if in.Shape == nil {
		return -1
	}
	return len(in.Shape)
}

// npySource feeds a single-input model from one .npy file.
type npySource struct {
	name string
	arr  *npyArray
}

func newNpySource(path string, inputs []Input) (source, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("dataset: %s: a .npy file feeds a single-input model; this one has %d inputs (%s): use a .npz with one array per input",
			path, len(inputs), inputNames(inputs))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	a, err := openNpyArray(path, f, inputRank(inputs[0]))
	if err != nil {
		return nil, err
	}
	return &npySource{name: inputs[0].Name, arr: a}, nil
}

func inputNames(inputs []Input) string {
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = fmt.Sprintf("%q", in.Name)
	}
	return strings.Join(names, ", ")
}

func (s *npySource) next() (*sample, error) {
	i := s.arr.i
	t, err := s.arr.next()
	if err != nil {
		return nil, err
	}
	return &sample{tensors: map[string]*tensor.Tensor{s.name: t}, where: fmt.Sprintf("%s[%d]", s.arr.where, i)}, nil
}

func (s *npySource) len() int     { return s.arr.n }
func (s *npySource) close() error { return s.arr.close() }

// npzSource feeds every input from the array of the same name in a .npz,
// one stream per input read in step.
type npzSource struct {
	path string
	z    *npz.Reader
	arrs map[string]*npyArray
	n, i int
}

func newNpzSource(path string, inputs []Input) (source, error) {
	z, err := npz.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	s := &npzSource{path: path, z: z, arrs: map[string]*npyArray{}}
	keys := map[string]string{}
	for _, k := range z.Keys() {
		keys[strings.TrimSuffix(k, ".npy")] = k
	}
	for _, in := range inputs {
		k, ok := keys[in.Name]
		if !ok {
			s.close()
			have := make([]string, 0, len(keys))
			for name := range keys {
				have = append(have, fmt.Sprintf("%q", name))
			}
			sort.Strings(have)
			return nil, fmt.Errorf("dataset: %s: no array named %q for model input %q (the file has %s)", path, in.Name, in.Name, strings.Join(have, ", "))
		}
		rc, err := z.Open(k)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		a, err := openNpyArray(path+":"+in.Name, rc, inputRank(in))
		if err != nil {
			s.close()
			return nil, err
		}
		if len(s.arrs) > 0 && a.n != s.n {
			a.close()
			s.close()
			return nil, fmt.Errorf("dataset: %s: array %q holds %d samples, the others %d", path, in.Name, a.n, s.n)
		}
		s.arrs[in.Name], s.n = a, a.n
	}
	return s, nil
}

func (s *npzSource) next() (*sample, error) {
	if s.i >= s.n {
		return nil, io.EOF
	}
	out := &sample{tensors: map[string]*tensor.Tensor{}, where: fmt.Sprintf("%s[%d]", s.path, s.i)}
	for name, a := range s.arrs {
		t, err := a.next()
		if err != nil {
			return nil, err
		}
		out.tensors[name] = t
	}
	s.i++
	return out, nil
}

func (s *npzSource) len() int { return s.n }

func (s *npzSource) close() error {
	var first error
	for _, a := range s.arrs {
		if err := a.close(); err != nil && first == nil {
			first = err
		}
	}
	if err := s.z.Close(); err != nil && first == nil {
		first = err
	}
	return first
}
