package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// tinyModel builds a model whose nodes are given as (op, inputs, outputs)
// triples; "x" is its input and "y" its output.
func tinyModel(nodes [][3][]string, tensors ...*onnx.TensorProto) *onnx.ModelProto {
	f := int32(onnx.TensorProto_FLOAT)
	typ := &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: &f}}}
	g := &onnx.GraphProto{
		Name:        proto.String("g"),
		Input:       []*onnx.ValueInfoProto{{Name: proto.String("x"), Type: typ}},
		Output:      []*onnx.ValueInfoProto{{Name: proto.String("y"), Type: typ}},
		Initializer: tensors,
	}
	for _, n := range nodes {
		g.Node = append(g.Node, &onnx.NodeProto{OpType: proto.String(n[0][0]), Input: n[1], Output: n[2]})
	}
	return &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:       g,
	}
}

func externalTensor(loc string) *onnx.TensorProto {
	ext := onnx.TensorProto_EXTERNAL
	return &onnx.TensorProto{
		Name: proto.String("w"), DataType: proto.Int32(int32(onnx.TensorProto_FLOAT)), Dims: []int64{1},
		DataLocation: &ext,
		ExternalData: []*onnx.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(loc)}},
	}
}

// TestConvertBadInput feeds broken models to ptq convert and ptq inspect:
// each must fail with exit code 1, name the file and the problem, and leave
// the output path as it was.
func TestConvertBadInput(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.bin")
	if err := os.WriteFile(secret, make([]byte, 4), 0o644); err != nil {
		t.Fatal(err)
	}
	good, err := proto.Marshal(tinyModel([][3][]string{{{"Relu"}, {"x"}, {"y"}}}))
	if err != nil {
		t.Fatal(err)
	}
	marshal := func(m *onnx.ModelProto) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		model   []byte
		symlink bool // add link.bin in the model folder pointing at secret
		want    string
	}{
		{"empty", nil, false, "empty file"},
		{"truncated", good[:len(good)/2], false, "not"},
		{"not protobuf", []byte("this is not an ONNX model, just text\n"), false, "not"},
		{"cycle", marshal(tinyModel([][3][]string{{{"Relu"}, {"b"}, {"a"}}, {{"Relu"}, {"a"}, {"b"}}, {{"Relu"}, {"x"}, {"y"}}})), false, "cycle"},
		{"unproduced input", marshal(tinyModel([][3][]string{{{"Add"}, {"x", "ghost"}, {"y"}}})), false, `"ghost"`},
		{"absolute location", marshal(tinyModel([][3][]string{{{"Add"}, {"x", "w"}, {"y"}}}, externalTensor(secret))), false, "absolute"},
		{"dotdot location", marshal(tinyModel([][3][]string{{{"Add"}, {"x", "w"}, {"y"}}}, externalTensor("../"+filepath.Base(outside)+"/secret.bin"))), false, "out of the model's folder"},
		{"symlink location", marshal(tinyModel([][3][]string{{{"Add"}, {"x", "w"}, {"y"}}}, externalTensor("link.bin"))), true, "symbolic link"},
		{"missing data file", marshal(tinyModel([][3][]string{{{"Add"}, {"x", "w"}, {"y"}}}, externalTensor("nothere.bin"))), false, "nothere.bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "bad.onnx")
			if err := os.WriteFile(in, tt.model, 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.symlink {
				if err := os.Symlink(secret, filepath.Join(dir, "link.bin")); err != nil {
					t.Skip(err)
				}
			}
			out := filepath.Join(dir, "out.onnx")
			if err := os.WriteFile(out, []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"convert", in, out}, {"convert", in, out, "--external-data"}, {"inspect", in}} {
				var so, se bytes.Buffer
				code := run(append([]string{"ptq"}, args...), &so, &se)
				if code != 1 {
					t.Errorf("ptq %s: exit %d, want 1 (stderr %q)", strings.Join(args, " "), code, se.String())
				}
				msg := se.String()
				if !strings.Contains(msg, in) || !strings.Contains(msg, tt.want) {
					t.Errorf("ptq %s: error %q does not name the file and %q", args[0], msg, tt.want)
				}
			}
			if b, err := os.ReadFile(out); err != nil || string(b) != "previous" {
				t.Errorf("output changed: %q, %v", b, err)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), ".tmp") || strings.HasSuffix(e.Name(), ".data") {
					t.Errorf("left %s behind", e.Name())
				}
			}
		})
	}
}

// TestUsageErrors checks exit code 2 for calls that are wrong in form.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"nosuchcommand"},
		{"convert"},
		{"convert", "a.onnx"},
		{"convert", "a.onnx", "b.onnx", "--no-such-flag"},
		{"convert", "a.onnx", "b.onnx", "--external-data-threshold", "-5"},
		{"inspect"},
		{"inspect", "--bogus", "a.onnx"},
	} {
		var so, se bytes.Buffer
		if code := run(append([]string{"ptq"}, args...), &so, &se); code != 2 {
			t.Errorf("ptq %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), code, se.String())
		}
	}
	var so, se bytes.Buffer
	if code := run([]string{"ptq", "version"}, &so, &se); code != 0 || !strings.HasPrefix(so.String(), "ptq ") {
		t.Errorf("ptq version: exit %d, %q", code, so.String())
	}
}
