//go:build linux

package onnxio

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// TestSaveOver2GB builds a model whose initializers total 2.25 GiB, past
// protobuf's 2 GB limit, saves it without asking for external data and
// expects Save to move the tensors out by itself and Load to bring them
// back. It is skipped only when the temporary folder lacks the space.
func TestSaveOver2GB(t *testing.T) {
	const each = 768 << 20 // three of these pass 2 GiB
	dir := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < 3*each+(512<<20) {
		t.Skipf("%s has %d MiB free; the test needs %d MiB", dir, free>>20, (3*each+(512<<20))>>20)
	}
	m := testModel(t)
	zeros := make([]byte, each) // shared: the tensors only differ by name
	for _, name := range []string{"z0", "z1", "z2"} {
		m.Graph.Initializer = append(m.Graph.Initializer, &onnx.TensorProto{
			Name: proto.String(name), DataType: proto.Int32(int32(onnx.TensorProto_FLOAT)),
			Dims: []int64{each / 4}, RawData: zeros,
		})
	}
	if proto.Size(m) <= MaxProtoSize {
		t.Fatalf("test model is only %d bytes", proto.Size(m))
	}
	path := filepath.Join(dir, "big.onnx")
	if err := Save(path, m, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 1<<20 {
		t.Errorf("model file is %d bytes; the big tensors should be external", fi.Size())
	}
	di, err := os.Stat(path + ".data")
	if err != nil {
		t.Fatal(err)
	}
	if di.Size() < 3*each {
		t.Errorf("data file is %d bytes, want at least %d", di.Size(), 3*each)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	inits := got.Graph.Initializer
	if len(inits) != 5 {
		t.Fatalf("%d initializers after load, want 5", len(inits))
	}
	for _, tp := range inits[2:] {
		raw := tp.GetRawData()
		if len(raw) != each || tp.GetDataLocation() == onnx.TensorProto_EXTERNAL {
			t.Fatalf("%s: %d bytes, location %v", tp.GetName(), len(raw), tp.GetDataLocation())
		}
		for i := 0; i < len(raw); i += 4093 { // sample: a full scan costs seconds
			if raw[i] != 0 {
				t.Fatalf("%s: byte %d is %d", tp.GetName(), i, raw[i])
			}
		}
	}
	if !proto.Equal(inits[0], m.Graph.Initializer[0]) || !proto.Equal(inits[1], m.Graph.Initializer[1]) {
		t.Error("small initializers changed")
	}
}
