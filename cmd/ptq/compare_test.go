package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ptq-dev/ptq/internal/oracle"
)

const fmnistDir = "../../testmodels/fmnist"

// TestCompareTorchQDQ compares PyTorch's QDQ export of the Fashion-MNIST CNN
// with the float model: its tensor names differ from the float model's, so
// activations are measured locally, and the output SQNR must be that of a
// working int8 model.
func TestCompareTorchQDQ(t *testing.T) {
	out := ptqRun(t, "compare", filepath.Join(fmnistDir, "cnn.onnx"), filepath.Join(fmnistDir, "torch_ptq", "cnn.qdq.onnx"),
		"--data", filepath.Join(fmnistDir, "test.npy"), "--labels", filepath.Join(fmnistDir, "test_labels.npy"), "--samples", "64", "--json")
	var got struct {
		Samples int `json:"samples"`
		Outputs []struct {
			SQNR  any     `json:"sqnr_db"`
			Agree float64 `json:"argmax_agreement"`
		} `json:"outputs"`
		RefTop1  float64 `json:"reference_top1"`
		TestTop1 float64 `json:"test_top1"`
		Tensors  []struct {
			Name  string `json:"name"`
			Kind  string `json:"kind"`
			SQNR  any    `json:"sqnr_db"`
			Local any    `json:"local_sqnr_db"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Samples != 64 || len(got.Outputs) != 1 {
		t.Fatalf("samples %d, outputs %d", got.Samples, len(got.Outputs))
	}
	if s, ok := got.Outputs[0].SQNR.(float64); !ok || s < 25 || got.Outputs[0].Agree < 0.9 {
		t.Errorf("output SQNR %v dB, argmax agreement %v: not a working int8 model", got.Outputs[0].SQNR, got.Outputs[0].Agree)
	}
	if got.RefTop1 < 0.8 || math.Abs(got.RefTop1-got.TestTop1) > 0.05 {
		t.Errorf("top-1 float %v, quantized %v", got.RefTop1, got.TestTop1)
	}
	kinds := map[string]int{}
	prev := math.Inf(-1)
	for _, tr := range got.Tensors {
		kinds[tr.Kind]++
		l, ok := tr.Local.(float64)
		if !ok {
			continue
		}
		if tr.SQNR != nil {
			continue
		}
		if l < prev {
			t.Errorf("tensors not sorted worst first at %s (%v after %v)", tr.Name, l, prev)
		}
		prev = l
	}
	if kinds["activation"] < 3 || kinds["weight"] < 3 {
		t.Errorf("tensor kinds %v: want at least 3 activations and 3 weights", kinds)
	}
}

// quantizeWithReport quantizes the Fashion-MNIST CNN with --report and
// returns the page's path.
func quantizeWithReport(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	ptqRun(t, "quantize", filepath.Join(fmnistDir, "cnn.onnx"), "-o", filepath.Join(dir, "cnn.q.onnx"), "-q",
		"--data", filepath.Join(fmnistDir, "calib.npy"), "--samples", "128",
		"--eval-data", filepath.Join(fmnistDir, "test.npy"), "--labels", filepath.Join(fmnistDir, "test_labels.npy"), "--eval-samples", "64",
		"--report", page)
	return page
}

func TestQuantizeReport(t *testing.T) {
	b, err := os.ReadFile(quantizeWithReport(t))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	if m := regexp.MustCompile(`(?i)(https?:|src=|<script|<link|@import|url\()`).FindString(html); m != "" {
		t.Errorf("report is not self-contained: found %q", m)
	}
	// The CNN has 3 quantized activations besides the input and the
	// logits: one chart plus at least 4 histograms.
	if n := strings.Count(html, "<svg"); n < 5 {
		t.Errorf("%d SVGs, want the SQNR chart and the histograms", n)
	}
	for _, want := range []string{"<table>", "nodes quantized", "range method", "top-1 accuracy", "Per-layer SQNR", "Activation histograms", "/conv2/Conv_output_0", "stroke-dasharray"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// chromium renders page headless to a screenshot and returns the console
// messages it logged.
func chromium(t *testing.T, page, png string) []string {
	t.Helper()
	cmd := exec.Command("/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--screenshot="+png, "--window-size=1280,2000", "file://"+page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	st, err := os.Stat(png)
	if err != nil || st.Size() < 1000 {
		t.Fatalf("chromium wrote no screenshot (%v)\n%s", err, out)
	}
	var msgs []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, ":CONSOLE") || strings.Contains(l, "net::ERR") {
			msgs = append(msgs, l)
		}
	}
	return msgs
}

// TestReportChromium renders the report in headless Chromium: it must load
// with no console message. A page with a script error checks that such
// messages are caught.
func TestReportChromium(t *testing.T) {
	oracle.Require(t, oracle.ChromiumOracle)
	bad := filepath.Join(t.TempDir(), "bad.html")
	if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><html><body><script>undefinedFunction()</script></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if msgs := chromium(t, bad, filepath.Join(t.TempDir(), "bad.png")); len(msgs) == 0 {
		t.Fatal("console error of the control page not detected: the check below would prove nothing")
	}
	page := quantizeWithReport(t)
	png := filepath.Join(t.TempDir(), "report.png")
	if msgs := chromium(t, page, png); len(msgs) > 0 {
		t.Errorf("console messages while rendering the report:\n%s", strings.Join(msgs, "\n"))
	}
	if dst := os.Getenv("PTQ_REPORT_SCREENSHOT"); dst != "" {
		b, err := os.ReadFile(png)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
