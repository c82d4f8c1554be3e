package oracle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptq-dev/ptq/tensor"
)

// PPOCRData returns the folder of rendered PP-OCR inputs made by
// testmodels/ppocr_data.py (see its doc string for the files and the exact
// preprocessing): rec_calib.npy, rec_eval.npy + rec_eval.json,
// cls_calib.npy, cls_eval.npy + cls_eval_labels.npy, det_calib.npy,
// det_eval.npy. They are rendered on first use into
// testmodels/generated/ppocr and re-rendered when the script changes.
func PPOCRData(t testing.TB) string {
	t.Helper()
	return renderOnce(t, "ppocr_data.py", "ppocr", PILOracle)
}

// ImageData returns calib.npy (64 images) and eval.npy (32 images): float32
// N x 3 x 224 x 224 inputs for the torchvision classifiers, normalised with
// ImageNet's mean and std, rendered by testmodels/image_data.py from
// Fashion-MNIST pictures on colour gradients (see its doc string) into
// testmodels/generated/images on first use.
func ImageData(t testing.TB) (calib, eval string) {
	t.Helper()
	Require(t, FMNISTOracle)
	dir := renderOnce(t, "image_data.py", "images", PILOracle)
	return filepath.Join(dir, "calib.npy"), filepath.Join(dir, "eval.npy")
}

// renderOnce runs testmodels/SCRIPT GENERATED/SUBDIR unless a stamp named
// after the script's digest says it already did, so a changed script renders
// again.
func renderOnce(t testing.TB, script, subdir, needs string) string {
	t.Helper()
	script = filepath.Join(TestModelsDir(), script)
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	dir := filepath.Join(GeneratedDir(), subdir)
	stamp := filepath.Join(dir, "complete-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(stamp); err == nil {
		return dir
	}
	Require(t, needs)
	if err := GenerateOnce(stamp, func() error {
		cmd := exec.Command(Python, script, dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", filepath.Base(script), err, lastLine(out))
		}
		return os.WriteFile(stamp, nil, 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// PPOCRDecode greedily decodes the recogniser's output (N x T x C
// probabilities, C = 6625) into one string per sample, as PaddleOCR's
// CTCLabelDecode does: argmax per step, repeats merged, blanks (class 0)
// dropped; classes 1..6623 are the lines of ppocr_keys_v1.txt and the last
// class is a space.
func PPOCRDecode(probs *tensor.Tensor) ([]string, error) {
	b, err := os.ReadFile(PPOCRModel("keys"))
	if err != nil {
		return nil, err
	}
	keys := append([]string{""}, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	keys = append(keys, " ")
	if probs.DType != tensor.Float || probs.Rank() != 3 || probs.Shape[2] != len(keys) {
		return nil, fmt.Errorf("PP-OCR rec output %v: want float32 N x T x %d", probs, len(keys))
	}
	n, steps, classes := probs.Shape[0], probs.Shape[1], probs.Shape[2]
	p := probs.Float32()
	out := make([]string, n)
	for i := range n {
		var s strings.Builder
		prev := -1
		for t := range steps {
			row := p[(i*steps+t)*classes : (i*steps+t+1)*classes]
			best := 0
			for c, v := range row {
				if v > row[best] {
					best = c
				}
			}
			if best != prev && best != 0 {
				s.WriteString(keys[best])
			}
			prev = best
		}
		out[i] = s.String()
	}
	return out, nil
}
