package oracle

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ptq-dev/ptq/tensor"
)

// rows returns samples [lo, hi) of a float tensor whose first axis is the
// sample axis.
func rows(t *tensor.Tensor, lo, hi int) *tensor.Tensor {
	per := t.Len() / t.Shape[0]
	shape := append([]int{hi - lo}, t.Shape[1:]...)
	return tensor.FromFloat32(t.Float32()[lo*per:hi*per], shape...)
}

// The rendered lines must be readable by the float recogniser, otherwise the
// preprocessing documented in ppocr_data.py is wrong and calibrating on them
// means nothing.
func TestPPOCRRecReadsRenderedLines(t *testing.T) {
	Require(t, ORTOracle)
	Require(t, PPOCROracle)
	dir := PPOCRData(t)
	x, err := ReadNPY(filepath.Join(dir, "rec_eval.npy"))
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	b, err := os.ReadFile(filepath.Join(dir, "rec_eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &texts); err != nil {
		t.Fatal(err)
	}
	const n = 40
	out, err := ORT(PPOCRModel("rec"), map[string]*tensor.Tensor{"x": rows(x, 0, n)}, ORTOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	var probs *tensor.Tensor
	for _, v := range out {
		probs = v
	}
	got, err := PPOCRDecode(probs)
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for i, s := range got {
		if s == texts[i] {
			right++
		} else {
			t.Logf("line %d: read %q, rendered %q", i, s, texts[i])
		}
	}
	if right < n*8/10 {
		t.Errorf("float recogniser read %d of %d rendered lines exactly, want at least 80%%", right, n)
	}
}

func TestPPOCRClsOnRenderedLines(t *testing.T) {
	Require(t, ORTOracle)
	Require(t, PPOCROracle)
	dir := PPOCRData(t)
	x, err := ReadNPY(filepath.Join(dir, "cls_eval.npy"))
	if err != nil {
		t.Fatal(err)
	}
	y, err := ReadNPY(filepath.Join(dir, "cls_eval_labels.npy"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ORT(PPOCRModel("cls"), map[string]*tensor.Tensor{"x": x}, ORTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var p []float32
	for _, v := range out {
		p = v.Float32()
	}
	right := 0
	for i, label := range y.Int64() {
		pred := int64(0)
		if p[2*i+1] > p[2*i] {
			pred = 1
		}
		if pred == label {
			right++
		}
	}
	if n := len(y.Int64()); right < n*9/10 {
		t.Errorf("angle classifier right on %d of %d rendered lines, want at least 90%%", right, n)
	}
}

func TestTorchvisionResnet18(t *testing.T) {
	Require(t, ORTOracle)
	Require(t, PythonONNXOracle)
	path := TorchvisionModel(t, "resnet18")
	if err := CheckModel(path, true); err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float, 2, 3, 224, 224)
	for i := range x.Float32() {
		x.Float32()[i] = float32(math.Sin(float64(i)))
	}
	out, err := ORT(path, map[string]*tensor.Tensor{"input": x}, ORTOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	logits := out["logits"]
	if logits == nil || len(logits.Shape) != 2 || logits.Shape[0] != 2 || logits.Shape[1] != 1000 {
		t.Fatalf("logits %v, want float32[2 1000]", logits)
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range logits.Float32() {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite logit %v", v)
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi-lo < 1e-3 {
		t.Errorf("logits span only [%v, %v]: the exported model looks degenerate", lo, hi)
	}
}

func TestImageData(t *testing.T) {
	Require(t, ORTOracle)
	calib, eval := ImageData(t)
	for path, n := range map[string]int{calib: 64, eval: 32} {
		x, err := ReadNPY(path)
		if err != nil {
			t.Fatal(err)
		}
		if x.DType != tensor.Float || len(x.Shape) != 4 || x.Shape[0] != n || x.Shape[1] != 3 || x.Shape[2] != 224 || x.Shape[3] != 224 {
			t.Fatalf("%s is %v, want float32[%d 3 224 224]", path, x, n)
		}
		// ImageNet normalisation of ordinary pictures: roughly zero mean,
		// unit spread, within the range the normalisation allows.
		var sum, sq float64
		for _, v := range x.Float32() {
			if v < -2.2 || v > 2.7 {
				t.Fatalf("%s: value %v outside the normalised pixel range", path, v)
			}
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		mean := sum / float64(x.Len())
		std := math.Sqrt(sq/float64(x.Len()) - mean*mean)
		if math.Abs(mean) > 0.7 || std < 0.5 || std > 1.5 {
			t.Errorf("%s: mean %.2f std %.2f, not like normalised images", path, mean, std)
		}
	}
}
