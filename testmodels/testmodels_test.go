// Package testmodels holds the committed test models and data (see
// README.md); its tests check that they are what the README says.
package testmodels

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/tensor"
)

func read(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	x, err := oracle.ReadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func top1(logits *tensor.Tensor, labels []int64) float64 {
	classes := logits.Shape[len(logits.Shape)-1]
	p := logits.Float32()
	right := 0
	for i, y := range labels {
		row := p[i*classes : (i+1)*classes]
		best := 0
		for c := range row {
			if row[c] > row[best] {
				best = c
			}
		}
		if int64(best) == y {
			right++
		}
	}
	return float64(right) / float64(len(labels))
}

func TestModelsPassChecker(t *testing.T) {
	oracle.Require(t, oracle.PythonONNXOracle)
	models, _ := filepath.Glob("*/*.onnx")
	more, _ := filepath.Glob("fmnist/torch_ptq/*.onnx")
	models = append(models, more...)
	if len(models) < 10 {
		t.Fatalf("found only %d models: %v", len(models), models)
	}
	errs, err := oracle.CheckModels(models, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// The float accuracies recorded in torch_ptq_baseline.json (and the README)
// must be what ONNX Runtime measures on the committed files.
func TestFashionMNISTAccuracy(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	x := read(t, "fmnist/test.npy")
	y := read(t, "fmnist/test_labels.npy")
	if x.Shape[0] != 1000 || len(y.Int64()) != 1000 {
		t.Fatalf("test set %v with %d labels, want 1000", x, len(y.Int64()))
	}
	if c := read(t, "fmnist/calib.npy"); c.Shape[0] != 512 || c.Shape[1] != 1 || c.Shape[2] != 28 {
		t.Fatalf("calib.npy is %v, want 512x1x28x28", c)
	}
	b, err := os.ReadFile("fmnist/torch_ptq_baseline.json")
	if err != nil {
		t.Fatal(err)
	}
	var baseline struct {
		Models map[string]struct {
			ORTFloatTop1 float64 `json:"ort_float_top1"`
			ORTQDQTop1   float64 `json:"ort_qdq_top1"`
			ORTQDQSQNR   float64 `json:"ort_qdq_sqnr_db"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &baseline); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cnn", "resnet", "mobilenetv2", "vit"} {
		t.Run(name, func(t *testing.T) {
			rec, ok := baseline.Models[name]
			if !ok {
				t.Fatal("not in torch_ptq_baseline.json")
			}
			out, err := oracle.ORT(filepath.Join("fmnist", name+".onnx"), map[string]*tensor.Tensor{"input": x}, oracle.ORTOptions{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			if acc := top1(out["logits"], y.Int64()); acc != rec.ORTFloatTop1 {
				t.Errorf("float top-1 %.3f, recorded %.3f", acc, rec.ORTFloatTop1)
			}
			if rec.ORTFloatTop1 < 0.85 {
				t.Errorf("float top-1 %.3f: too weak a classifier to test quantization on", rec.ORTFloatTop1)
			}
			qout, err := oracle.ORT(filepath.Join("fmnist", "torch_ptq", name+".qdq.onnx"), map[string]*tensor.Tensor{"input": x}, oracle.ORTOptions{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			if acc := top1(qout["logits"], y.Int64()); acc != rec.ORTQDQTop1 {
				t.Errorf("PyTorch PTQ top-1 %.3f, recorded %.3f", acc, rec.ORTQDQTop1)
			}
			if s := sqnr(out["logits"].Float32(), qout["logits"].Float32()); math.Abs(s-rec.ORTQDQSQNR) > 0.05 {
				t.Errorf("PyTorch PTQ SQNR %.2f dB, recorded %.2f", s, rec.ORTQDQSQNR)
			}
		})
	}
}

func sqnr(ref, q []float32) float64 {
	var sig, noise float64
	for i := range ref {
		d := float64(q[i]) - float64(ref[i])
		sig += float64(ref[i]) * float64(ref[i])
		noise += d * d
	}
	return 10 * math.Log10(sig/noise)
}

func TestEncoderOutliersKeepFunction(t *testing.T) {
	oracle.Require(t, oracle.ORTOracle)
	x := read(t, "transformer/eval.npy")
	if x.Shape[1] != 16 || x.Shape[2] != 64 {
		t.Fatalf("eval.npy is %v, want Nx16x64", x)
	}
	in := map[string]*tensor.Tensor{"input": x}
	plain, err := oracle.ORT("transformer/encoder.onnx", in, oracle.ORTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	outl, err := oracle.ORT("transformer/encoder_outliers.onnx", in, oracle.ORTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"logits", "hidden"} {
		if s := sqnr(plain[name].Float32(), outl[name].Float32()); s < 100 {
			t.Errorf("%s: outlier model differs from the plain one (SQNR %.1f dB)", name, s)
		}
	}
	if acc := top1(plain["logits"], read(t, "transformer/eval_labels.npy").Int64()); acc < 0.9 {
		t.Errorf("encoder top-1 %.3f on its toy task, want >= 0.9", acc)
	}
}
