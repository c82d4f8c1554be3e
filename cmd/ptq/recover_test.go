package main

import (
	"path/filepath"
	"testing"

	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/tensor"
)

// recoverCase is a model with its calibration and evaluation data.
type recoverCase struct {
	name, model, calib, eval string
	samples, batch           string
	evalN                    int
}

func recoverCases(t *testing.T, names ...string) map[string]recoverCase {
	t.Helper()
	fm := filepath.Join(oracle.TestModelsDir(), "fmnist")
	enc := filepath.Join(oracle.TestModelsDir(), "transformer")
	out := map[string]recoverCase{}
	for _, n := range names {
		switch n {
		case "mobilenet_v2", "resnet18":
			calib, eval := oracle.ImageData(t)
			samples := "32"
			if n == "resnet18" {
				samples = "8" // bias correction runs the model once per layer
			}
			out[n] = recoverCase{n, oracle.TorchvisionModel(t, n), calib, eval, samples, "16", 16}
		case "encoder", "encoder_outliers":
			out[n] = recoverCase{n, filepath.Join(enc, n+".onnx"), filepath.Join(enc, "calib.npy"), filepath.Join(enc, "eval.npy"), "64", "16", 64}
		default:
			out[n] = recoverCase{n, filepath.Join(fm, n+".onnx"), filepath.Join(fm, "calib.npy"), filepath.Join(fm, "test.npy"), "256", "64", 256}
		}
	}
	return out
}

// recoverSQNR quantizes c's model with the extra arguments and returns the
// output SQNR measured in ONNX Runtime on c's evaluation samples.
func recoverSQNR(t *testing.T, c recoverCase, x *tensor.Tensor, tag string, extra ...string) float64 {
	t.Helper()
	dst := filepath.Join(t.TempDir(), c.name+"."+tag+".onnx")
	args := append([]string{"quantize", c.model, "--data", c.calib, "--samples", c.samples, "--batch", c.batch, "-o", dst, "--no-eval", "--quiet"}, extra...)
	ptqRun(t, args...)
	sqnr, _, _ := ortCompare(t, c.model, dst, x, nil)
	return sqnr
}

func evalSamples(t *testing.T, c recoverCase) *tensor.Tensor {
	t.Helper()
	x, err := oracle.ReadNPY(c.eval)
	if err != nil {
		t.Fatal(err)
	}
	return firstRows(x, c.evalN)
}

// TestRecoverCLE: with per-tensor weights, --cle raises the output SQNR
// (ONNX Runtime, held-out samples) of torchvision's mobilenet_v2 and of the
// Fashion-MNIST MobileNetV2, whose layers are joined only by ReLU6, and
// lowers it on no other model.
func TestRecoverCLE(t *testing.T) {
	oracle.Require(t, "ort")
	oracle.Require(t, "torch")
	cases := recoverCases(t, "mobilenet_v2", "mobilenetv2", "cnn", "resnet")
	for _, name := range []string{"mobilenet_v2", "mobilenetv2", "cnn", "resnet"} {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			x := evalSamples(t, c)
			base := recoverSQNR(t, c, x, "pt", "--per-channel=false")
			cle := recoverSQNR(t, c, x, "pt-cle", "--per-channel=false", "--cle")
			t.Logf("%s, per-tensor weights: SQNR %.2f dB without --cle, %.2f dB with (ONNX Runtime)", name, base, cle)
			switch {
			case (name == "mobilenet_v2" || name == "mobilenetv2") && !(cle > base):
				t.Errorf("--cle did not raise the SQNR: %.2f -> %.2f dB", base, cle)
			case cle < base-0.05:
				t.Errorf("--cle lowered the SQNR: %.2f -> %.2f dB", base, cle)
			}
		})
	}
}

// TestRecoverBiasCorrection: --bias-correction raises the output SQNR
// (ONNX Runtime) of the Fashion-MNIST MobileNetV2 and of resnet18.
func TestRecoverBiasCorrection(t *testing.T) {
	oracle.Require(t, "ort")
	oracle.Require(t, "torch")
	cases := recoverCases(t, "mobilenetv2", "resnet18")
	for _, name := range []string{"mobilenetv2", "resnet18"} {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			x := evalSamples(t, c)
			base := recoverSQNR(t, c, x, "base")
			bc := recoverSQNR(t, c, x, "bc", "--bias-correction")
			t.Logf("%s: SQNR %.2f dB without --bias-correction, %.2f dB with (ONNX Runtime)", name, base, bc)
			if !(bc > base) {
				t.Errorf("--bias-correction did not raise the SQNR: %.2f -> %.2f dB", base, bc)
			}
		})
	}
}

// TestRecoverSmoothQuant: --smoothquant 0.5 raises the output SQNR (ONNX
// Runtime) of the transformer encoder whose activations carry injected
// outlier channels, and does not cost more than a little on the plain one.
func TestRecoverSmoothQuant(t *testing.T) {
	oracle.Require(t, "ort")
	cases := recoverCases(t, "encoder_outliers", "encoder")
	for _, name := range []string{"encoder_outliers", "encoder"} {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			x := evalSamples(t, c)
			base := recoverSQNR(t, c, x, "base")
			sq := recoverSQNR(t, c, x, "sq", "--smoothquant", "0.5")
			t.Logf("%s: SQNR %.2f dB without --smoothquant, %.2f dB with 0.5 (ONNX Runtime)", name, base, sq)
			if name == "encoder_outliers" && !(sq > base+3) {
				t.Errorf("--smoothquant 0.5 did not raise the SQNR by 3 dB: %.2f -> %.2f dB", base, sq)
			}
			if name == "encoder" && sq < base-1 {
				t.Errorf("--smoothquant 0.5 cost more than 1 dB: %.2f -> %.2f dB", base, sq)
			}
		})
	}
}
