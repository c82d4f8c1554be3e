package oracle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TorchvisionModels are the names TorchvisionModel accepts.
var TorchvisionModels = []string{"resnet18", "mobilenet_v2", "efficientnet_b0"}

// TorchvisionModel returns the path of a torchvision classifier exported to
// ONNX (opset 13, input "input" Nx3x224x224, output "logits", seeded random
// weights) by testmodels/torchvision_export.py. The model is made on first
// use into testmodels/generated/torchvision (the file name carries a digest
// of the script) and reused afterwards; a file
// lock keeps test packages running in parallel from exporting it twice.
// It needs the torch oracle (Require is called for you).
func TorchvisionModel(t testing.TB, name string) string {
	t.Helper()
	known := false
	for _, n := range TorchvisionModels {
		known = known || n == name
	}
	if !known {
		t.Fatalf("oracle: unknown torchvision model %q (have %v)", name, TorchvisionModels)
	}
	script := filepath.Join(TestModelsDir(), "torchvision_export.py")
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	// The script's digest is in the file name so that a changed script
	// makes a new model instead of reusing a stale one.
	sum := sha256.Sum256(src)
	path := filepath.Join(GeneratedDir(), "torchvision", name+"-"+hex.EncodeToString(sum[:4])+".onnx")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	Require(t, TorchOracle)
	if err := GenerateOnce(path, func() error {
		cmd := exec.Command(Python, script, name, path)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("export %s: %v: %s", name, err, lastLine(out))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

// GenerateOnce runs gen unless path exists, holding an exclusive lock on
// path+".lock" so that concurrent test binaries wait for the first one.
// gen must create path atomically (write elsewhere, then rename).
func GenerateOnce(path string, gen func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := gen(); err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("generator did not create %s", path)
	}
	return nil
}
