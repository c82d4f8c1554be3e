package dataset

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// npyBytes encodes a C-ordered little-endian NumPy v1.0 file.
func npyBytes(code string, shape []int, data any) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	sh := strings.Join(dims, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", code, sh)
	pad := 64 - (10+len(hdr)+1)%64
	hdr += strings.Repeat(" ", pad%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	binary.Write(&b, binary.LittleEndian, data)
	return b.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeNpz writes arrays as members name.npy, deflated like savez_compressed.
func writeNpz(t *testing.T, path string, members map[string][]byte) string {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for name, data := range members {
		w, err := z.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, path, b.Bytes())
}

func seq(n int, start float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = start + float32(i)
	}
	return v
}

// readAll drains a reader, returning each batch's tensor for input name.
func readAll(t *testing.T, r Reader, name string) []*tensor.Tensor {
	t.Helper()
	var out []*tensor.Tensor
	for {
		b, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b[name])
	}
}

func TestNpyBatching(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "x.npy"), npyBytes("<f4", []int{5, 3, 2}, seq(30, 0)))
	tests := []struct {
		name    string
		shape   []int64
		opts    Options
		batches [][]int
	}{
		{"symbolic batch 2", []int64{-1, 3, 2}, Options{Batch: 2}, [][]int{{2, 3, 2}, {2, 3, 2}, {1, 3, 2}}},
		{"symbolic batch 1", []int64{-1, 3, 2}, Options{}, [][]int{{1, 3, 2}, {1, 3, 2}, {1, 3, 2}, {1, 3, 2}, {1, 3, 2}}},
		{"fixed batch 1 ignores Batch", []int64{1, 3, 2}, Options{Batch: 4}, [][]int{{1, 3, 2}, {1, 3, 2}, {1, 3, 2}, {1, 3, 2}, {1, 3, 2}}},
		{"fixed batch 2 drops leftover", []int64{2, 3, 2}, Options{}, [][]int{{2, 3, 2}, {2, 3, 2}}},
		{"samples cap", []int64{-1, 3, 2}, Options{Batch: 2, Samples: 3}, [][]int{{2, 3, 2}, {1, 3, 2}}},
		{"symbolic inner dims", []int64{-1, -1, 2}, Options{Batch: 5}, [][]int{{5, 3, 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Warn = io.Discard
			r, err := Open(path, []Input{{Name: "x", DType: tensor.Float, Shape: tc.shape}}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := readAll(t, r, "x")
			if len(got) != len(tc.batches) {
				t.Fatalf("%d batches, want %d", len(got), len(tc.batches))
			}
			next := float32(0)
			for i, b := range got {
				if fmt.Sprint(b.Shape) != fmt.Sprint(tc.batches[i]) {
					t.Errorf("batch %d: shape %v, want %v", i, b.Shape, tc.batches[i])
				}
				for j, v := range b.Float32() {
					if v != next {
						t.Fatalf("batch %d element %d = %v, want %v", i, j, v, next)
					}
					next++
				}
			}
		})
	}
}

func TestLen(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "x.npy"), npyBytes("<f4", []int{7, 2}, seq(14, 0)))
	in := []Input{{Name: "x", DType: tensor.Float, Shape: []int64{-1, 2}}}
	for _, tc := range []struct{ samples, want int }{{0, 7}, {3, 3}, {10, 7}} {
		r, err := Open(path, in, Options{Samples: tc.samples})
		if err != nil {
			t.Fatal(err)
		}
		if r.Len() != tc.want {
			t.Errorf("Samples %d: Len %d, want %d", tc.samples, r.Len(), tc.want)
		}
		r.Close()
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	f32 := writeFile(t, filepath.Join(dir, "f32.npy"), npyBytes("<f4", []int{2, 3}, seq(6, 0)))
	i64 := writeFile(t, filepath.Join(dir, "i64.npy"), npyBytes("<i8", []int{2, 3}, []int64{1, 2, 3, 4, 5, 6}))
	nan := writeFile(t, filepath.Join(dir, "nan.npy"), npyBytes("<f4", []int{3, 2}, []float32{1, 2, float32(math.NaN()), 4, 5, 6}))
	npz := writeNpz(t, filepath.Join(dir, "two.npz"), map[string][]byte{"a": npyBytes("<f4", []int{2, 3}, seq(6, 0))})
	bad := writeFile(t, filepath.Join(dir, "x.txt"), []byte("hi"))
	x := func(shape ...int64) []Input { return []Input{{Name: "x", DType: tensor.Float, Shape: shape}} }
	tests := []struct {
		name   string
		path   string
		inputs []Input
		want   []string // substrings of the error
	}{
		{"wrong dtype", i64, x(-1, 3), []string{"i64.npy", `"x"`, "int64", "float32"}},
		{"wrong fixed dim", f32, x(-1, 4), []string{"f32.npy", `"x"`, "expected 4, given 3"}},
		{"wrong rank", f32, x(-1, 3, 1, 1), []string{"f32.npy", "rank 4"}},
		{"nan", nan, x(-1, 2), []string{"nan.npy", `"x"`, "sample 1", "non-finite"}},
		{"npy for two inputs", f32, []Input{{Name: "a"}, {Name: "b"}}, []string{"f32.npy", "single-input", `"a", "b"`}},
		{"missing npz array", npz, []Input{{Name: "a", DType: tensor.Float, Shape: []int64{-1, 3}}, {Name: "b"}}, []string{"two.npz", `"b"`, `"a"`}},
		{"unknown file", bad, x(-1, 3), []string{"x.txt", "unknown"}},
		{"missing file", filepath.Join(dir, "none.npy"), x(-1, 3), []string{"none.npy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := func() error {
				r, err := Open(tc.path, tc.inputs, Options{Warn: io.Discard})
				if err != nil {
					return err
				}
				defer r.Close()
				for {
					if _, err := r.Next(); err != nil {
						if err == io.EOF {
							return nil
						}
						return err
					}
				}
			}()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSkipNonFinite(t *testing.T) {
	dir := t.TempDir()
	inf := float32(math.Inf(1))
	path := writeFile(t, filepath.Join(dir, "x.npy"), npyBytes("<f4", []int{4, 2}, []float32{1, 2, inf, 4, 5, 6, 7, float32(math.NaN())}))
	r, err := Open(path, []Input{{Name: "x", DType: tensor.Float, Shape: []int64{-1, 2}}}, Options{SkipNonFinite: true, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r, "x")
	if len(got) != 1 || fmt.Sprint(got[0].Float32()) != "[1 2 5 6]" {
		t.Errorf("got %v, want one batch [1 2 5 6]", got)
	}
	if Skipped(r) != 2 {
		t.Errorf("Skipped = %d, want 2", Skipped(r))
	}
}

func TestFloat64NarrowedWithWarning(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "x.npy"), npyBytes("<f8", []int{2, 2}, []float64{0.5, 1.5, 2.5, 3.5}))
	var warn bytes.Buffer
	r, err := Open(path, []Input{{Name: "x", DType: tensor.Float, Shape: []int64{-1, 2}}}, Options{Warn: &warn, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r, "x")
	if len(got) != 1 || got[0].DType != tensor.Float || fmt.Sprint(got[0].Float32()) != "[0.5 1.5 2.5 3.5]" {
		t.Errorf("got %v %v", got, got[0].Data)
	}
	if !strings.Contains(warn.String(), "float64") {
		t.Errorf("no warning about float64: %q", warn.String())
	}
}

func TestNpzAndFolders(t *testing.T) {
	dir := t.TempDir()
	inputs := []Input{
		{Name: "ids", DType: tensor.Int64, Shape: []int64{-1, 2}},
		{Name: "x", DType: tensor.Float, Shape: []int64{-1, 3}},
	}
	writeNpz(t, filepath.Join(dir, "one.npz"), map[string][]byte{
		"ids":   npyBytes("<i8", []int{3, 2}, []int64{0, 1, 2, 3, 4, 5}),
		"x":     npyBytes("<f4", []int{3, 3}, seq(9, 0)),
		"extra": npyBytes("<f4", []int{1}, []float32{1}),
	})
	r, err := Open(filepath.Join(dir, "one.npz"), inputs, Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(b["ids"].Shape, b["ids"].Data, b["x"].Shape) != "[2 2] [0 1 2 3] [2 3]" {
		t.Errorf("first batch: ids %v %v, x %v", b["ids"].Shape, b["ids"].Data, b["x"].Shape)
	}
	r.Close()

	// A folder of single-sample .npy files (no sample axis), in name order.
	fdir := filepath.Join(dir, "npys")
	os.Mkdir(fdir, 0o755)
	for i := range 3 {
		writeFile(t, filepath.Join(fdir, fmt.Sprintf("s%d.npy", i)), npyBytes("<f4", []int{3}, seq(3, float32(10*i))))
	}
	r, err = Open(fdir, inputs[1:], Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 3 {
		t.Errorf("Len %d, want 3", r.Len())
	}
	got := readAll(t, r, "x")
	if len(got) != 3 || got[2].Float32()[0] != 20 || fmt.Sprint(got[2].Shape) != "[1 3]" {
		t.Errorf("folder samples: %v", got)
	}

	// A folder mixing kinds is refused.
	writeFile(t, filepath.Join(fdir, "a.png"), pngBytes(t, 1, 1, nil))
	if _, err := Open(fdir, inputs[1:], Options{}); err == nil || !strings.Contains(err.Error(), "mixes") {
		t.Errorf("mixed folder: err %v", err)
	}
}

func pngBytes(t *testing.T, w, h int, px func(x, y int) color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{10, 20, 30, 255}
			if px != nil {
				c = px(x, y)
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestImages(t *testing.T) {
	dir := t.TempDir()
	// Pixel (x, y) of a 2x1 image: red then blue.
	writeFile(t, filepath.Join(dir, "a.png"), pngBytes(t, 2, 1, func(x, y int) color.RGBA {
		if x == 0 {
			return color.RGBA{255, 0, 0, 255}
		}
		return color.RGBA{0, 0, 255, 255}
	}))
	tests := []struct {
		name  string
		shape []int64
		opts  Options
		want  []int
		data  []float32
	}{
		{"nchw rgb", []int64{1, 3, 1, 2}, Options{}, []int{1, 3, 1, 2}, []float32{1, 0, 0, 0, 0, 1}},
		{"nchw bgr", []int64{1, 3, 1, 2}, Options{Channels: "bgr"}, []int{1, 3, 1, 2}, []float32{0, 1, 0, 0, 1, 0}},
		{"nhwc inferred", []int64{1, 1, 2, 3}, Options{}, []int{1, 1, 2, 3}, []float32{1, 0, 0, 0, 0, 1}},
		{"mean std", []int64{1, 3, 1, 2}, Options{Mean: []float32{0.5}, Std: []float32{0.5}}, []int{1, 3, 1, 2}, []float32{1, -1, -1, -1, -1, 1}},
		{"gray", []int64{1, 1, 1, 2}, Options{PixelScale: 1}, []int{1, 1, 1, 2}, []float32{0.299 * 255, 0.114 * 255}},
		{"resize width", []int64{-1, 3, -1, -1}, Options{ImageSize: [2]int{1, 4}}, []int{1, 3, 1, 4}, []float32{1, 0.75, 0.25, 0, 0, 0, 0, 0, 0, 0.25, 0.75, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(dir, []Input{{Name: "img", DType: tensor.Float, Shape: tc.shape}}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, r, "img")
			if len(got) != 1 {
				t.Fatalf("%d samples, want 1", len(got))
			}
			if fmt.Sprint(got[0].Shape) != fmt.Sprint(tc.want) || !approx(got[0].Float32(), tc.data, 1e-5) {
				t.Errorf("got %v %v, want %v %v", got[0].Shape, got[0].Data, tc.want, tc.data)
			}
		})
	}
}

func TestRandomAndDigest(t *testing.T) {
	inputs := []Input{{Name: "x", DType: tensor.Float, Shape: []int64{-1, 3, -1, -1}}}
	digest := func(batch int, seed int64) (string, int) {
		r, err := Open(RandomPath, inputs, Options{Batch: batch, Seed: seed, ImageSize: [2]int{4, 5}, Samples: 6, Warn: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, b := range readAll(t, r, "x") {
			if fmt.Sprint(b.Shape[1:]) != "[3 4 5]" {
				t.Fatalf("shape %v", b.Shape)
			}
			n += b.Shape[0]
		}
		return Digest(r), n
	}
	d1, n := digest(1, 7)
	d4, _ := digest(4, 7)
	other, _ := digest(1, 8)
	if n != 6 {
		t.Errorf("%d samples, want 6", n)
	}
	if d1 != d4 {
		t.Errorf("digest depends on batching: %s vs %s", d1, d4)
	}
	if d1 == other || len(d1) != 64 {
		t.Errorf("digests %s and %s for different seeds", d1, other)
	}
	if _, err := Open(RandomPath, []Input{{Name: "x", DType: tensor.Float, Shape: []int64{-1, -1}}}, Options{Warn: io.Discard}); err == nil {
		t.Error("random data for a symbolic non-image dimension: no error")
	}
}

func TestStreamsLargeFile(t *testing.T) {
	// The npy reader must not read the whole array up front: a truncated
	// file still yields its complete leading samples before failing.
	dir := t.TempDir()
	b := npyBytes("<f4", []int{4, 2}, seq(8, 0))
	path := writeFile(t, filepath.Join(dir, "x.npy"), b[:len(b)-4])
	r, err := Open(path, []Input{{Name: "x", DType: tensor.Float, Shape: []int64{-1, 2}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := r.Next(); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
	}
	if _, err := r.Next(); err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "sample 3") {
		t.Errorf("truncated sample: err %v", err)
	}
}

func approx(got, want []float32, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol*math.Max(1, math.Abs(float64(want[i]))) {
			return false
		}
	}
	return true
}

func writePB(t *testing.T, path, name string, v *tensor.Tensor) {
	t.Helper()
	tp, err := onnxio.FromTensor(name, v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(tp)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b)
}

func TestONNXTestDataSets(t *testing.T) {
	dir := t.TempDir()
	inputs := []Input{
		{Name: "a", DType: tensor.Float, Shape: []int64{-1, 2}},
		{Name: "b", DType: tensor.Int64, Shape: []int64{-1}},
	}
	// Sets 0..10 so that numeric order (2 before 10) matters. In set 3 the
	// tensors are named and stored in swapped files: names win over indices.
	for i := range 11 {
		set := filepath.Join(dir, fmt.Sprintf("test_data_set_%d", i))
		os.Mkdir(set, 0o755)
		a := tensor.FromFloat32([]float32{float32(i), float32(-i)}, 1, 2)
		b := tensor.FromInt64([]int64{int64(i)}, 1)
		if i == 3 {
			writePB(t, filepath.Join(set, "input_0.pb"), "b", b)
			writePB(t, filepath.Join(set, "input_1.pb"), "a", a)
			continue
		}
		writePB(t, filepath.Join(set, "input_0.pb"), "", a)
		writePB(t, filepath.Join(set, "input_1.pb"), "", b)
	}
	r, err := Open(dir, inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 11 {
		t.Errorf("Len %d, want 11", r.Len())
	}
	for i := range 11 {
		s, err := r.Next()
		if err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
		if s["a"].Float32()[0] != float32(i) || s["b"].Int64()[0] != int64(i) {
			t.Errorf("set %d: a %v, b %v", i, s["a"].Data, s["b"].Data)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last set: %v, want io.EOF", err)
	}
	// One test_data_set folder on its own is a data source too.
	r, err = Open(filepath.Join(dir, "test_data_set_4"), inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := r.Next(); err != nil || s["b"].Int64()[0] != 4 {
		t.Errorf("single set: %v %v", s, err)
	}
}

func TestJPEGFolder(t *testing.T) {
	dir := t.TempDir()
	for i, v := range []uint8{40, 200, 120} {
		img := image.NewGray(image.Rect(0, 0, 8, 6))
		for p := range img.Pix {
			img.Pix[p] = v
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, fmt.Sprintf("img%d.jpg", i)), b.Bytes())
	}
	r, err := Open(dir, []Input{{Name: "x", DType: tensor.Uint8, Shape: []int64{-1, 4, 3, 3}}}, Options{Batch: 2, Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 {
		t.Errorf("Len %d, want 2 (Samples caps 3 images)", r.Len())
	}
	got := readAll(t, r, "x")
	if len(got) != 1 || fmt.Sprint(got[0].Shape) != "[2 4 3 3]" {
		t.Fatalf("got %v, want one [2 4 3 3] batch (nhwc inferred, resized to 4x3)", got)
	}
	d := got[0].Data.([]uint8)
	for i, want := range []int{40, 200} {
		for _, v := range d[i*36 : (i+1)*36] {
			if diff := int(v) - want; diff < -2 || diff > 2 {
				t.Fatalf("image %d: pixel %d, want %d±2", i, v, want)
			}
		}
	}
}
