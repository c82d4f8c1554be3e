package oracle

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The oracle names Require accepts.
const (
	ORTOracle        = "ort"         // ONNX Runtime via node + onnxruntime-node
	TestDataOracle   = "testdata"    // libonnx-testdata
	PythonONNXOracle = "python-onnx" // /usr/bin/python3 with onnx (checker, proto equality)
	PPOCROracle      = "ppocr"       // PP-OCR det/rec/cls models
	TorchOracle      = "torch"       // /usr/bin/python3 with torch, torchvision, numpy
	FMNISTOracle     = "fmnist"      // Fashion-MNIST IDX files
	PILOracle        = "pil"         // /usr/bin/python3 with PIL + numpy and the DejaVu fonts
	ChromiumOracle   = "chromium"    // /usr/bin/chromium, headless, for rendering the HTML report
)

// checks maps each oracle to a probe that explains what is missing.
// The probes run once per test binary: several of them start a python.
var checks = map[string]func() error{
	ORTOracle: sync.OnceValue(func() error {
		if _, err := exec.LookPath("node"); err != nil {
			return errors.New("node is not on PATH")
		}
		return statAll(filepath.Join(NodeModules(), "onnxruntime-node", "package.json"))
	}),
	TestDataOracle: sync.OnceValue(func() error {
		return statAll(filepath.Join(TestDataDir(), "node", "test_relu", "model.onnx"))
	}),
	PythonONNXOracle: sync.OnceValue(func() error { return pythonImports("onnx") }),
	PPOCROracle: sync.OnceValue(func() error {
		return statAll(PPOCRModel("det"), PPOCRModel("rec"), PPOCRModel("cls"))
	}),
	TorchOracle: sync.OnceValue(func() error { return pythonImports("torch", "torchvision", "numpy") }),
	FMNISTOracle: sync.OnceValue(func() error {
		var files []string
		for _, f := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
			files = append(files, filepath.Join(FashionMNISTDir(), f))
		}
		return statAll(files...)
	}),
	PILOracle: sync.OnceValue(func() error {
		if err := pythonImports("PIL", "numpy"); err != nil {
			return err
		}
		return statAll("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
	}),
	ChromiumOracle: sync.OnceValue(func() error { return statAll("/usr/bin/chromium") }),
}

// Available reports whether an oracle is installed, and if not, why.
func Available(what string) error {
	check, ok := checks[what]
	if !ok {
		return fmt.Errorf("oracle: unknown oracle %q", what)
	}
	return check()
}

// Require skips the test when the oracle what (ORTOracle, TestDataOracle, ...)
// is missing, or fails it when the environment variable CI is "true".
// An unknown name always fails: that is a bug in the test.
func Require(t testing.TB, what string) {
	t.Helper()
	if _, ok := checks[what]; !ok {
		t.Fatalf("oracle: unknown oracle %q", what)
	}
	missing(t, what, Available(what))
}

// missing skips or fails t, as Require documents, when err is not nil.
func missing(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("oracle %q is missing (%v); install the oracles with: bash scripts/setup-oracles.sh", what, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
		return
	}
	t.Skip(msg)
}

func statAll(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return err
		}
	}
	return nil
}

func pythonImports(modules ...string) error {
	cmd := exec.Command(Python, "-c", "import "+strings.Join(modules, ", "))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s cannot import %s: %v: %s", Python, strings.Join(modules, ", "), err, lastLine(out))
	}
	return nil
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
