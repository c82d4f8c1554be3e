package oracle

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"codeberg.org/sbinet/npyio"

	"github.com/ptq-dev/ptq/tensor"
)

// npyDescr is the numpy type string of each dtype the oracles exchange.
var npyDescr = map[tensor.DType]string{
	tensor.Float: "<f4", tensor.Double: "<f8", tensor.Float16: "<f2",
	tensor.Int64: "<i8", tensor.Int32: "<i4", tensor.Int16: "<i2", tensor.Int8: "|i1",
	tensor.Uint64: "<u8", tensor.Uint32: "<u4", tensor.Uint16: "<u2", tensor.Uint8: "|u1",
	tensor.Bool: "|b1",
}

func dtypeOfDescr(descr string) (tensor.DType, bool) {
	descr = strings.Trim(descr, `'"`)
	if len(descr) > 1 && descr[0] == '=' {
		descr = "<" + descr[1:]
	}
	if len(descr) == 3 && descr[2] == '1' {
		descr = "|" + descr[1:] // byte-sized types have no byte order
	}
	for dt, d := range npyDescr {
		if d == descr {
			return dt, true
		}
	}
	return tensor.Undefined, false
}

// WriteNPY writes t as a C-ordered .npy file (format 1.0).
func WriteNPY(path string, t *tensor.Tensor) error {
	descr, ok := npyDescr[t.DType]
	if !ok {
		return fmt.Errorf("write %s: no .npy type for %v", path, t.DType)
	}
	var shape strings.Builder
	shape.WriteByte('(')
	for _, d := range t.Shape {
		fmt.Fprintf(&shape, "%d,", d)
	}
	shape.WriteByte(')')
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape.String())
	// magic(6) + version(2) + length(2) + header + '\n' is a multiple of 64.
	pad := 63 - (10+len(hdr))%64
	hdr += strings.Repeat(" ", pad) + "\n"

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(npyio.Magic[:])
	w.Write([]byte{1, 0})
	binary.Write(w, binary.LittleEndian, uint16(len(hdr)))
	w.WriteString(hdr)
	if err := binary.Write(w, binary.LittleEndian, t.Data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// ReadNPY reads a C-ordered .npy file of one of the types WriteNPY writes.
func ReadNPY(path string) (*tensor.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	br := bytes.NewReader(b)
	r, err := npyio.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if r.Header.Descr.Fortran {
		return nil, fmt.Errorf("read %s: Fortran-ordered arrays are not supported", path)
	}
	dt, ok := dtypeOfDescr(r.Header.Descr.Type)
	if !ok {
		return nil, fmt.Errorf("read %s: unsupported numpy type %s", path, r.Header.Descr.Type)
	}
	t := tensor.New(dt, r.Header.Descr.Shape...)
	if t.Len() == 0 {
		return t, nil
	}
	switch dt {
	case tensor.Float16, tensor.Bool:
		// npyio has no Go type for half floats, and reads of bool are
		// element-by-element; both are plain little-endian bytes.
		err = binary.Read(br, binary.LittleEndian, t.Data)
	default:
		ptr := reflectPtr(t.Data)
		err = r.Read(ptr)
		if err == nil {
			t.Data = derefSlice(ptr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if n := sliceLen(t.Data); n != t.Len() {
		return nil, fmt.Errorf("read %s: %d elements for shape %v", path, n, t.Shape)
	}
	return t, nil
}
