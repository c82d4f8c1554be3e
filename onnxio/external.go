package onnxio

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// ExternalRef is where a tensor's data lives outside the model file.
type ExternalRef struct {
	Location string
	Offset   int64
	Length   int64 // -1: to the end of the file
}

// ExternalRefOf parses a tensor's external_data entries.
func ExternalRefOf(t *onnx.TensorProto) (ExternalRef, error) {
	ref := ExternalRef{Length: -1}
	for _, kv := range t.GetExternalData() {
		switch kv.GetKey() {
		case "location":
			ref.Location = kv.GetValue()
		case "offset", "length":
			v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || v < 0 {
				return ref, fmt.Errorf("tensor %q: bad external data %s %q", t.GetName(), kv.GetKey(), kv.GetValue())
			}
			if kv.GetKey() == "offset" {
				ref.Offset = v
			} else {
				ref.Length = v
			}
		}
	}
	if ref.Location == "" {
		return ref, fmt.Errorf("tensor %q: external data without a location", t.GetName())
	}
	return ref, nil
}

// resolveLocation turns an external-data location into a path inside dir,
// refusing locations that are absolute or lead out of dir, by '..' or by a
// symbolic link: a model must not make ptq read arbitrary files.
func resolveLocation(dir, loc string) (string, error) {
	if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, `\`) || filepath.VolumeName(loc) != "" {
		return "", fmt.Errorf("external data location %q is absolute; it must be relative to the model's folder", loc)
	}
	clean := filepath.Clean(filepath.FromSlash(loc))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("external data location %q leads out of the model's folder", loc)
	}
	p := filepath.Join(dir, clean)
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	realP, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("external data location %q: %w", loc, err)
	}
	rel, err := filepath.Rel(realDir, realP)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("external data location %q leads out of the model's folder through a symbolic link", loc)
	}
	return realP, nil
}

// ExternalFiles lists the distinct external data files a loaded-as-bytes
// model refers to, in first-use order.
func ExternalFiles(m *onnx.ModelProto) []string {
	var files []string
	seen := map[string]bool{}
	ForEachTensor(m, func(t *onnx.TensorProto) error {
		if t.GetDataLocation() != onnx.TensorProto_EXTERNAL {
			return nil
		}
		if ref, err := ExternalRefOf(t); err == nil && !seen[ref.Location] {
			seen[ref.Location] = true
			files = append(files, ref.Location)
		}
		return nil
	})
	return files
}

func loadExternal(m *onnx.ModelProto, dir string) error {
	open := map[string]*os.File{}
	defer func() {
		for _, f := range open {
			f.Close()
		}
	}()
	return ForEachTensor(m, func(t *onnx.TensorProto) error {
		if t.GetDataLocation() != onnx.TensorProto_EXTERNAL {
			return nil
		}
		ref, err := ExternalRefOf(t)
		if err != nil {
			return err
		}
		p, err := resolveLocation(dir, ref.Location)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.GetName(), err)
		}
		f := open[p]
		if f == nil {
			if f, err = os.Open(p); err != nil {
				return fmt.Errorf("tensor %q: %w", t.GetName(), err)
			}
			open[p] = f
		}
		st, err := f.Stat()
		if err != nil {
			return err
		}
		length := ref.Length
		if length < 0 {
			length = st.Size() - ref.Offset
		}
		if ref.Offset+length > st.Size() || length < 0 {
			return fmt.Errorf("tensor %q: external data %s holds %d bytes, tensor wants bytes %d..%d", t.GetName(), ref.Location, st.Size(), ref.Offset, ref.Offset+length)
		}
		buf := make([]byte, length)
		if _, err := f.ReadAt(buf, ref.Offset); err != nil && err != io.EOF {
			return fmt.Errorf("tensor %q: reading %s: %w", t.GetName(), ref.Location, err)
		}
		t.RawData = buf
		t.ExternalData = nil
		t.DataLocation = nil
		return nil
	})
}

// writeExternal writes the raw data of every large tensor to a temporary
// file beside the data file and points the tensors at the data file. It
// returns a function that puts the tensors back as they were, so Save leaves
// the caller's model intact, and the temporary file's path: Save renames it
// into place only once the model itself is written.
func writeExternal(path string, m *onnx.ModelProto, opts SaveOptions) (func(), string, error) {
	dataPath := filepath.Join(filepath.Dir(path), opts.DataFile)
	f, err := os.CreateTemp(filepath.Dir(dataPath), "."+filepath.Base(dataPath)+".tmp*")
	if err != nil {
		return nil, "", fmt.Errorf("writing external data %s: %w", dataPath, err)
	}
	tmp := f.Name()
	type saved struct {
		t    *onnx.TensorProto
		raw  []byte
		ext  []*onnx.StringStringEntryProto
		loc  *onnx.TensorProto_DataLocation
		done bool
	}
	var changed []*saved
	restore := func() {
		for _, s := range changed {
			s.t.RawData, s.t.ExternalData, s.t.DataLocation = s.raw, s.ext, s.loc
		}
	}
	var offset int64
	err = ForEachTensor(m, func(t *onnx.TensorProto) error {
		if t.RawData == nil || int64(len(t.RawData)) < opts.ExternalDataThreshold {
			return nil
		}
		// Align each tensor to 4 KiB so readers can map the file.
		if pad := (4096 - offset%4096) % 4096; pad > 0 {
			if _, err := f.Write(make([]byte, pad)); err != nil {
				return err
			}
			offset += pad
		}
		if _, err := f.Write(t.RawData); err != nil {
			return err
		}
		changed = append(changed, &saved{t: t, raw: t.RawData, ext: t.ExternalData, loc: t.DataLocation})
		ext := onnx.TensorProto_EXTERNAL
		t.DataLocation = &ext
		t.ExternalData = []*onnx.StringStringEntryProto{
			kv("location", filepath.ToSlash(opts.DataFile)),
			kv("offset", strconv.FormatInt(offset, 10)),
			kv("length", strconv.Itoa(len(t.RawData))),
		}
		offset += int64(len(t.RawData))
		t.RawData = nil
		return nil
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err != nil {
		restore()
		os.Remove(tmp)
		return nil, "", fmt.Errorf("writing external data %s: %w", dataPath, err)
	}
	return restore, tmp, nil
}

func kv(k, v string) *onnx.StringStringEntryProto {
	return &onnx.StringStringEntryProto{Key: &k, Value: &v}
}
