package report

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/compare"
)

// page returns a page with n activations (SQNR 10, 11, ... dB, histogram
// and range each) and a weight.
func page(n, maxHist int) *Page {
	p := &Page{
		Title:         "ptq report: test.onnx",
		Summary:       []Row{{"model", "test.onnx"}, {"size", "1.0 MiB → 260 KiB"}},
		Float:         []FloatNode{{"Softmax_0", "Softmax", "no rule for Softmax"}},
		Eval:          &compare.Report{Samples: 8, Outputs: []compare.OutputReport{{Name: "logits", SQNR: 31.5, Cosine: 0.999, MaxAbs: 0.2, ArgmaxAgreement: 1}}, RefAccuracy: 0.9, TestAccuracy: 0.875},
		Histograms:    map[string]*calibrate.Histogram{},
		Ranges:        map[string]calibrate.Range{},
		MaxHistograms: maxHist,
	}
	for i := range n {
		name := fmt.Sprintf("act_%03d", i)
		p.Tensors = append(p.Tensors, compare.TensorReport{Name: name, Kind: compare.Activation, SQNR: 10 + float64(i), LocalSQNR: 30, Cosine: 1, MaxAbs: 1})
		p.Histograms[name] = &calibrate.Histogram{MaxBins: 8, Exp: -2, Offset: -4, Counts: []uint64{1, 0, 5, 9, 30, 12, 3, 1}}
		p.Ranges[name] = calibrate.Range{Lo: -0.75, Hi: 0.8}
	}
	p.Tensors = append(p.Tensors, compare.TensorReport{Name: "conv.weight", Kind: compare.Weight, SQNR: 45, LocalSQNR: math.NaN()})
	return p
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name       string
		page       *Page
		hists      int // histogram SVGs expected
		omitted    string
		firstHist  string
		wantChart  bool
		wantInText []string
	}{
		{"small", page(3, 0), 3, "", "act_000", true, []string{"no rule for Softmax", "31.50 dB", "float 90.00% → quantized 87.50%", "conv.weight", "Every node (1)"}},
		{"capped, worst first", page(10, 4), 4, "Showing the 4 worst by SQNR; 6 more not drawn.", "act_000", true, nil},
		{"no tensors compared", &Page{Title: "t", Summary: []Row{{"mode", "weight-only"}}}, 0, "", "", false, []string{"weight-only"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tc.page); err != nil {
				t.Fatal(err)
			}
			html := buf.String()
			if m := regexp.MustCompile(`(?i)(https?:|src=|<script|<link|@import|url\()`).FindString(html); m != "" {
				t.Errorf("page is not self-contained: found %q", m)
			}
			svgs := strings.Count(html, "<svg")
			chart := 0
			if tc.wantChart {
				chart = 1
			}
			if svgs != tc.hists+chart {
				t.Errorf("%d SVGs, want %d histograms + %d chart", svgs, tc.hists, chart)
			}
			if strings.Count(html, "<svg") != strings.Count(html, "</svg>") {
				t.Errorf("unbalanced <svg> tags")
			}
			if tc.omitted != "" && !strings.Contains(html, tc.omitted) {
				t.Errorf("page does not say histograms were left out (%q)", tc.omitted)
			}
			if tc.firstHist != "" {
				i := strings.Index(html, `<div class="card"><h3>`)
				if i < 0 || !strings.HasPrefix(html[i+len(`<div class="card"><h3>`):], tc.firstHist) {
					t.Errorf("first histogram is not %s", tc.firstHist)
				}
			}
			for _, s := range tc.wantInText {
				if !strings.Contains(html, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			if !strings.Contains(html, "<table>") {
				t.Errorf("no summary table")
			}
		})
	}
}

// TestHistogramRange checks that the clipping range is drawn: two red
// dashed lines, and none without a range.
func TestHistogramRange(t *testing.T) {
	h := &calibrate.Histogram{MaxBins: 8, Exp: 0, Offset: 0, Counts: []uint64{4, 2, 1}}
	for _, tc := range []struct {
		have  bool
		lines int
	}{{true, 2}, {false, 0}} {
		svg, err := histogramPlot("t", h, calibrate.Range{Lo: 0, Hi: 2.5}, tc.have)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(svg, "stroke-dasharray"); n != tc.lines {
			t.Errorf("range %v: %d dashed lines, want %d", tc.have, n, tc.lines)
		}
	}
}

func TestReasons(t *testing.T) {
	tests := []struct {
		in   []FloatNode
		want string
	}{
		{nil, ""},
		{[]FloatNode{{"a", "Add", "r1"}, {"b", "Mul", "r2"}, {"c", "Mul", "r2"}, {"d", "Add", "r3"}}, "2 Mul r2|1 Add r1|1 Add r3"},
		{[]FloatNode{{"a", "Add", "r1"}, {"b", "Mul", "r1"}}, "1 Add r1|1 Mul r1"},
		{[]FloatNode{{"a", "Add", `input "x" is not quantized`}, {"b", "Add", `input "y" is not quantized`}}, "2 Add input … is not quantized"},
	}
	for _, tc := range tests {
		var got []string
		for _, r := range reasons(tc.in) {
			got = append(got, fmt.Sprintf("%d %s %s", r.Count, r.OpType, r.Reason))
		}
		if g := strings.Join(got, "|"); g != tc.want {
			t.Errorf("reasons(%v) = %q, want %q", tc.in, g, tc.want)
		}
	}
}
