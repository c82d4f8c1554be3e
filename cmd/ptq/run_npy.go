package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/ptq-dev/ptq/tensor"
)

// npyStream writes one .npy file whose first dimension grows as rows are
// appended, so `ptq run` never holds more than one batch of outputs. The
// header is written with room to spare and rewritten with the final count
// by Close.
type npyStream struct {
	f     *os.File
	w     *bufio.Writer
	path  string
	dtype tensor.DType
	descr string
	tail  []int // the dimensions after the first
	rows  int
}

// npyHeaderLen is the fixed size of the header (magic, version, length and
// the padded dictionary): large enough for any shape ptq writes, a multiple
// of 64 as numpy recommends.
const npyHeaderLen = 256

func npyDescr(dt tensor.DType) (string, error) {
	switch dt {
	case tensor.Float:
		return "<f4", nil
	case tensor.Double:
		return "<f8", nil
	case tensor.Float16:
		return "<f2", nil
	case tensor.Int64:
		return "<i8", nil
	case tensor.Int32:
		return "<i4", nil
	case tensor.Int16:
		return "<i2", nil
	case tensor.Int8:
		return "|i1", nil
	case tensor.Uint8:
		return "|u1", nil
	case tensor.Uint16:
		return "<u2", nil
	case tensor.Uint32:
		return "<u4", nil
	case tensor.Uint64:
		return "<u8", nil
	case tensor.Bool:
		return "|b1", nil
	}
	return "", fmt.Errorf("cannot write %v to .npy", dt)
}

func newNPYStream(path string, dt tensor.DType, tail []int) (*npyStream, error) {
	descr, err := npyDescr(dt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	s := &npyStream{f: f, w: bufio.NewWriterSize(f, 1<<16), path: path, dtype: dt, descr: descr, tail: append([]int(nil), tail...)}
	if err := s.writeHeader(s.w); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *npyStream) writeHeader(w io.Writer) error {
	dims := []string{fmt.Sprint(s.rows)}
	for _, d := range s.tail {
		dims = append(dims, fmt.Sprint(d))
	}
	shape := strings.Join(dims, ", ")
	if len(dims) == 1 {
		shape += ","
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", s.descr, shape)
	pad := npyHeaderLen - 10 - len(dict) - 1
	if pad < 0 {
		return fmt.Errorf("%s: shape too long for the .npy header", s.path)
	}
	hdr := make([]byte, 0, npyHeaderLen)
	hdr = append(hdr, "\x93NUMPY\x01\x00"...)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(npyHeaderLen-10))
	hdr = append(hdr, dict...)
	hdr = append(hdr, strings.Repeat(" ", pad)...)
	hdr = append(hdr, '\n')
	_, err := w.Write(hdr)
	return err
}

// Append writes the rows of t, whose shape must be [k, tail...].
func (s *npyStream) Append(t *tensor.Tensor) error {
	if t.DType != s.dtype {
		return fmt.Errorf("%s: got %v, earlier samples were %v", s.path, t.DType, s.dtype)
	}
	if len(t.Shape) != len(s.tail)+1 || !slices.Equal(t.Shape[1:], s.tail) {
		return fmt.Errorf("%s: got shape %v, earlier samples had [k %v]", s.path, t.Shape, s.tail)
	}
	if err := npyWriteData(s.w, t); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	s.rows += t.Shape[0]
	return nil
}

// Close flushes the data and rewrites the header with the final row count.
func (s *npyStream) Close() error {
	err := s.w.Flush()
	if err == nil {
		_, err = s.f.Seek(0, io.SeekStart)
	}
	if err == nil {
		err = s.writeHeader(s.f)
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return nil
}

// npyWriteData writes the elements little-endian through a small buffer.
func npyWriteData(w io.Writer, t *tensor.Tensor) error {
	var buf [8 << 10]byte
	b := buf[:0]
	flush := func(need int) error {
		if len(b)+need <= len(buf) {
			return nil
		}
		_, err := w.Write(b)
		b = buf[:0]
		return err
	}
	var err error
	switch d := t.Data.(type) {
	case []float32:
		for _, v := range d {
			if err = flush(4); err != nil {
				return err
			}
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	case []float64:
		for _, v := range d {
			if err = flush(8); err != nil {
				return err
			}
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	case []int64:
		for _, v := range d {
			if err = flush(8); err != nil {
				return err
			}
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	case []uint64:
		for _, v := range d {
			if err = flush(8); err != nil {
				return err
			}
			b = binary.LittleEndian.AppendUint64(b, v)
		}
	case []int32:
		for _, v := range d {
			if err = flush(4); err != nil {
				return err
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		}
	case []uint32:
		for _, v := range d {
			if err = flush(4); err != nil {
				return err
			}
			b = binary.LittleEndian.AppendUint32(b, v)
		}
	case []int16:
		for _, v := range d {
			if err = flush(2); err != nil {
				return err
			}
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		}
	case []uint16:
		for _, v := range d {
			if err = flush(2); err != nil {
				return err
			}
			b = binary.LittleEndian.AppendUint16(b, v)
		}
	case []int8:
		for _, v := range d {
			if err = flush(1); err != nil {
				return err
			}
			b = append(b, byte(v))
		}
	case []uint8:
		for _, v := range d {
			if err = flush(1); err != nil {
				return err
			}
			b = append(b, v)
		}
	case []bool:
		for _, v := range d {
			if err = flush(1); err != nil {
				return err
			}
			x := byte(0)
			if v {
				x = 1
			}
			b = append(b, x)
		}
	default:
		return fmt.Errorf("cannot write %T", t.Data)
	}
	_, err = w.Write(b)
	return err
}
