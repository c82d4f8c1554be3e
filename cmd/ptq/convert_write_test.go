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

// TestConvertWriteFailure makes the save itself fail, after a good load:
// the command exits 1 naming the output, and leaves neither the output, its
// external data file nor any temporary file behind.
func TestConvertWriteFailure(t *testing.T) {
	w := &onnx.TensorProto{Name: proto.String("w"), DataType: proto.Int32(int32(onnx.TensorProto_FLOAT)), Dims: []int64{512}, RawData: make([]byte, 2048)}
	good, err := proto.Marshal(tinyModel([][3][]string{{{"Add"}, {"x", "w"}, {"y"}}}, w))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		out   func(dir string) string
		flags []string
	}{
		{"output is a folder", func(dir string) string {
			p := filepath.Join(dir, "out.onnx")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}, nil},
		{"output is a folder, external data", func(dir string) string {
			p := filepath.Join(dir, "out.onnx")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"--external-data"}},
		{"output folder missing", func(dir string) string { return filepath.Join(dir, "nosuch", "out.onnx") }, []string{"--external-data"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.onnx")
			if err := os.WriteFile(in, good, 0o644); err != nil {
				t.Fatal(err)
			}
			out := c.out(dir)
			var so, se bytes.Buffer
			args := append([]string{"ptq", "convert", in, out}, c.flags...)
			if code := run(args, &so, &se); code != 1 {
				t.Fatalf("exit %d, want 1 (stderr %q)", code, se.String())
			}
			if !strings.Contains(se.String(), out) {
				t.Errorf("error %q does not name %s", se.String(), out)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				switch e.Name() {
				case "in.onnx":
				case "out.onnx":
					if !e.IsDir() {
						t.Errorf("out.onnx was written")
					}
				default:
					t.Errorf("left %s behind", e.Name())
				}
			}
			if fi, err := os.Stat(out); err == nil && fi.IsDir() {
				if ents, _ := os.ReadDir(out); len(ents) != 0 {
					t.Errorf("wrote into the folder %s", out)
				}
			}
		})
	}
}
