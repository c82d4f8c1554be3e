package main

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/internal/oracle"
	"github.com/ptq-dev/ptq/quant"
)

func calibrateRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(append([]string{"ptq", "calibrate"}, args...), &out, &errw)
	return out.String(), errw.String(), code
}

func TestCalibrateShardsMergeToOneRun(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(oracle.TestModelsDir(), "fmnist", "cnn.onnx")
	data := filepath.Join(oracle.TestModelsDir(), "fmnist", "calib.npy")
	methods := "minmax,moving-average,percentile,entropy,mse,aciq-laplace"
	common := []string{"--data", data, "--samples", "40", "--batch", "4", "--method", methods, "--quiet"}
	whole := filepath.Join(dir, "whole.json")
	if out, errs, code := calibrateRun(t, append(common, "-o", whole, model)...); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	var parts []string
	for k := range 4 {
		p := filepath.Join(dir, fmt.Sprintf("part%d.json", k))
		out, errs, code := calibrateRun(t, append(common, "--shard", fmt.Sprintf("%d/4", k), "-o", p, model)...)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("shard %d/4", k)) {
			t.Fatalf("shard %d: exit %d: %s%s", k, code, out, errs)
		}
		parts = append(parts, p)
	}
	merged := filepath.Join(dir, "merged.json")
	if out, errs, code := calibrateRun(t, append([]string{"--merge", "-o", merged}, parts[2], parts[0], parts[3], parts[1])...); code != 0 {
		t.Fatalf("merge: exit %d: %s%s", code, out, errs)
	}
	a, err := calibrate.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	b, err := calibrate.ReadFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	if a.Samples != 40 || b.Samples != 40 || len(a.Tensors) == 0 || len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("one run %d samples %d tensors; merged %d samples %d tensors", a.Samples, len(a.Tensors), b.Samples, len(b.Tensors))
	}
	for _, name := range strings.Split(methods, ",") {
		m, _ := calibrate.ParseMethod(name)
		ra, err := a.Ranges(m, calibrate.Target{Type: quant.Uint8})
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := b.Ranges(m, calibrate.Target{Type: quant.Uint8})
		for tensor, rs := range ra {
			for i, r := range rs {
				g := rb[tensor][i]
				if math.Float32bits(r.Lo) != math.Float32bits(g.Lo) || math.Float32bits(r.Hi) != math.Float32bits(g.Hi) {
					t.Errorf("%s %s: merged shards %v, one run %v", name, tensor, g, r)
				}
			}
		}
	}
}

func TestCalibratePerChannel(t *testing.T) {
	model := filepath.Join(oracle.TestModelsDir(), "fmnist", "cnn.onnx")
	data := filepath.Join(oracle.TestModelsDir(), "fmnist", "calib.npy")
	out := filepath.Join(t.TempDir(), "c.json")
	if o, errs, code := calibrateRun(t, "--data", data, "--samples", "8", "--granularity", "channel:1", "--method", "minmax", "--quiet", "-o", out, model); code != 0 {
		t.Fatalf("exit %d: %s%s", code, o, errs)
	}
	s, err := calibrate.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	in := s.Tensors["input"]
	if in == nil || in.Granularity.Kind != calibrate.PerChannel || len(in.Slots) != 1 || in.Slots[0] != 1 {
		t.Fatalf("input statistics %+v, want one channel", in)
	}
	wide := 0
	for _, ts := range s.Tensors {
		if ts.Granularity.Kind == calibrate.PerChannel && len(ts.Slots) == 1 && ts.Slots[0] > 1 {
			wide++
		}
	}
	if wide == 0 {
		t.Error("no activation has per-channel statistics")
	}
}

func TestCalibrateDataErrors(t *testing.T) {
	model := filepath.Join(oracle.TestModelsDir(), "fmnist", "cnn.onnx")
	_, errs, code := calibrateRun(t, model)
	if code != 2 || !strings.Contains(errs, "--data PATH") || !strings.Contains(errs, "--data random") {
		t.Errorf("no data: exit %d, %q; want 2 and how to give data", code, errs)
	}
	out := filepath.Join(t.TempDir(), "r.json")
	_, errs, code = calibrateRun(t, "--data", "random", "--samples", "2", "--quiet", "-o", out, model)
	if code != 0 || !strings.Contains(errs, "meaningless") {
		t.Errorf("random data: exit %d, %q; want success with a warning", code, errs)
	}
	if strings.Contains(errs, "calibrating") {
		t.Errorf("a progress bar was drawn on a stderr that is not a terminal: %q", errs)
	}
	for _, bad := range []string{"4/4", "1", "-1/3", "a/b"} {
		if _, errs, code := calibrateRun(t, "--data", "random", "--shard", bad, model); code != 2 {
			t.Errorf("--shard %s: exit %d %q", bad, code, errs)
		}
	}
	for _, bad := range []string{"channel", "group:1", "block:1:2", "tensor:1"} {
		if _, errs, code := calibrateRun(t, "--data", "random", "--granularity", bad, model); code != 2 {
			t.Errorf("--granularity %s: exit %d %q", bad, code, errs)
		}
	}
	if _, errs, code := calibrateRun(t, "--data", "random", "--method", "median", model); code != 2 || !strings.Contains(errs, "median") {
		t.Errorf("--method median: exit %d %q", code, errs)
	}
}
