package onnxio

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// testModel is a one-node model with two initializers: a big one (4 KiB)
// and a small one (8 bytes), a Constant node holding a tensor, and a few
// fields ptq does not model.
func testModel(t testing.TB) *onnx.ModelProto {
	big := tensor.New(tensor.Float, 32, 32)
	for i := range big.Float32() {
		big.Float32()[i] = float32(i) * 0.5
	}
	bt, err := FromTensor("big", big)
	if err != nil {
		t.Fatal(err)
	}
	st, err := FromTensor("small", tensor.FromInt64([]int64{3, -4}, 2))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := FromTensor("c", tensor.New(tensor.Float, 600))
	if err != nil {
		t.Fatal(err)
	}
	attrT := onnx.AttributeProto_TENSOR
	return &onnx.ModelProto{
		IrVersion:     proto.Int64(8),
		ProducerName:  proto.String("test"),
		DocString:     proto.String("doc"),
		OpsetImport:   []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		MetadataProps: []*onnx.StringStringEntryProto{kv("k", "v")},
		Graph: &onnx.GraphProto{
			Name:        proto.String("g"),
			Initializer: []*onnx.TensorProto{bt, st},
			Node: []*onnx.NodeProto{
				{OpType: proto.String("Constant"), Output: []string{"c"}, Attribute: []*onnx.AttributeProto{{Name: proto.String("value"), Type: &attrT, T: ct}}},
				{OpType: proto.String("MatMul"), Input: []string{"x", "big"}, Output: []string{"y"}},
			},
			Input:  []*onnx.ValueInfoProto{{Name: proto.String("x")}},
			Output: []*onnx.ValueInfoProto{{Name: proto.String("y")}},
		},
	}
}

// TestSaveLoad saves with and without external data and loads back the
// same protobuf; the caller's model is not changed by Save.
func TestSaveLoad(t *testing.T) {
	tests := []struct {
		name     string
		opts     SaveOptions
		external []string // tensors expected in the data file
	}{
		{"inline", SaveOptions{}, nil},
		{"external default threshold", SaveOptions{ExternalData: true}, []string{"big", "c"}},
		{"external threshold 1", SaveOptions{ExternalData: true, ExternalDataThreshold: 1}, []string{"big", "small", "c"}},
		{"external threshold 3000", SaveOptions{ExternalData: true, ExternalDataThreshold: 3000}, []string{"big"}},
		{"named data file", SaveOptions{ExternalData: true, DataFile: "weights.bin"}, []string{"big", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testModel(t)
			before := proto.Clone(m)
			dir := t.TempDir()
			path := filepath.Join(dir, "m.onnx")
			if err := Save(path, m, tt.opts); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(m, before) {
				t.Error("Save changed the model it was given")
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := LoadBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			var ext []string
			ForEachTensor(raw, func(tp *onnx.TensorProto) error {
				if tp.GetDataLocation() == onnx.TensorProto_EXTERNAL {
					ext = append(ext, tp.GetName())
				}
				return nil
			})
			if strings.Join(ext, ",") != strings.Join(tt.external, ",") {
				t.Errorf("external tensors %v, want %v", ext, tt.external)
			}
			files := ExternalFiles(raw)
			if len(tt.external) > 0 {
				want := tt.opts.DataFile
				if want == "" {
					want = "m.onnx.data"
				}
				if len(files) != 1 || files[0] != want {
					t.Errorf("external files %v, want [%s]", files, want)
				}
			}
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, before) {
				t.Error("loaded model differs from the saved one")
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

// TestUnknownFieldsSurvive appends fields no ONNX schema defines, to the
// model, a node and a tensor, and expects them back byte for byte after a
// load and save.
func TestUnknownFieldsSurvive(t *testing.T) {
	m := testModel(t)
	unknown := protowire.AppendTag(nil, 999, protowire.BytesType)
	unknown = protowire.AppendString(unknown, "from the future")
	m.ProtoReflect().SetUnknown(unknown)
	m.Graph.Node[1].ProtoReflect().SetUnknown(unknown)
	m.Graph.Initializer[1].ProtoReflect().SetUnknown(unknown)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := Save(path, m, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, msg := range map[string]proto.Message{"model": got, "node": got.Graph.Node[1], "tensor": got.Graph.Initializer[1]} {
		if !bytes.Equal(msg.ProtoReflect().GetUnknown(), unknown) {
			t.Errorf("%s: unknown fields %x, want %x", name, msg.ProtoReflect().GetUnknown(), unknown)
		}
	}
}

// TestLoadRefusesOutsideData checks the external-data locations that must
// not be followed, and that sound relative ones (in a subfolder) are.
func TestLoadRefusesOutsideData(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "w.bin"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		loc  string
		link bool
		want string // "" = must load
	}{
		{filepath.Join(outside, "w.bin"), false, "absolute"},
		{"../" + filepath.Base(outside) + "/w.bin", false, "out of the model's folder"},
		{"sub/../../w.bin", false, "out of the model's folder"},
		{"link/w.bin", true, "symbolic link"},
		{"sub/w.bin", false, ""},
		{"missing.bin", false, "missing.bin"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "sub"), 0o755)
		os.WriteFile(filepath.Join(dir, "sub", "w.bin"), make([]byte, 4096), 0o644)
		if tt.link {
			if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
				t.Skip(err)
			}
		}
		m := testModel(t)
		ext := onnx.TensorProto_EXTERNAL
		big := m.Graph.Initializer[0]
		big.RawData, big.DataLocation = nil, &ext
		big.ExternalData = []*onnx.StringStringEntryProto{kv("location", tt.loc), kv("length", "4096")}
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "m.onnx")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = Load(path)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.loc, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path)):
			t.Errorf("%s: error %v, want one naming %s and %q", tt.loc, err, path, tt.want)
		}
	}
}

// TestLoadBad checks that broken files are errors with a reason.
func TestLoadBad(t *testing.T) {
	good, err := proto.Marshal(testModel(t))
	if err != nil {
		t.Fatal(err)
	}
	tensorOnly, _ := proto.Marshal(testModel(t).Graph.Initializer[1])
	for name, b := range map[string][]byte{
		"empty":          nil,
		"truncated":      good[:len(good)/2],
		"text":           []byte("hello, world\n"),
		"other protobuf": tensorOnly,
		"one byte":       {0x08},
	} {
		if _, err := LoadBytes(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := LoadBytes(good); err != nil {
		t.Errorf("good model: %v", err)
	}
}

// TestSaveFailureKeepsOld makes Save fail (the folder is a file) and
// checks nothing was written.
func TestSaveFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "f")
	os.WriteFile(notDir, []byte("x"), 0o644)
	if err := Save(filepath.Join(notDir, "m.onnx"), testModel(t), SaveOptions{}); err == nil {
		t.Error("Save into a file's path did not fail")
	}
	if b, _ := os.ReadFile(notDir); string(b) != "x" {
		t.Errorf("file changed to %q", b)
	}
}
