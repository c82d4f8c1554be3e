// Package report writes the quantization report: one self-contained HTML
// page (no scripts, no network: the plots are inline SVG made with
// gonum.org/v1/plot) with a summary table, the per-layer SQNR chart and the
// calibration histogram of each quantized activation with its clipping
// range.
package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/compare"
)

// DefaultMaxHistograms bounds the histograms drawn when Page.MaxHistograms
// is zero: a page with thousands of plots would not open.
const DefaultMaxHistograms = 64

// Page is what the report shows.
type Page struct {
	Title   string
	Summary []Row       // the summary table, in order
	Float   []FloatNode // nodes left in float, with why
	Eval    *compare.Report
	Tensors []compare.TensorReport // per quantized tensor, any order
	// Histograms by tensor name; Ranges are the chosen clipping ranges.
	Histograms    map[string]*calibrate.Histogram
	Ranges        map[string]calibrate.Range
	MaxHistograms int
}

// Row is one line of the summary table.
type Row struct{ Key, Value string }

// FloatNode is a node kept in float.
type FloatNode struct{ Node, OpType, Reason string }

// Write renders p as HTML to w.
func Write(w io.Writer, p *Page) error {
	maxH := p.MaxHistograms
	if maxH <= 0 {
		maxH = DefaultMaxHistograms
	}
	ts := append([]compare.TensorReport(nil), p.Tensors...)
	compare.SortWorstFirst(ts)
	v := view{Page: p}
	if len(ts) > 0 {
		svg, err := sqnrChart(ts)
		if err != nil {
			return fmt.Errorf("report: SQNR chart: %w", err)
		}
		v.Chart = template.HTML(svg)
	}
	// Histograms of activations, worst first; then those compare did not see.
	var order []string
	listed := map[string]bool{}
	sqnr := map[string]compare.TensorReport{}
	for _, t := range ts {
		if t.Kind != compare.Activation {
			continue
		}
		for _, name := range []string{t.Name, t.Ref} {
			if _, ok := p.Histograms[name]; ok && !listed[name] {
				order = append(order, name)
				listed[name] = true
				sqnr[name] = t
			}
		}
	}
	for _, name := range sortedKeys(p.Histograms) {
		if !listed[name] {
			order = append(order, name)
		}
	}
	for _, name := range order {
		h := p.Histograms[name]
		if h == nil || len(h.Counts) == 0 {
			continue
		}
		if len(v.Hists) == maxH {
			v.Omitted++
			continue
		}
		rg, ok := p.Ranges[name]
		svg, err := histogramPlot(name, h, rg, ok)
		if err != nil {
			return fmt.Errorf("report: histogram of %q: %w", name, err)
		}
		hv := histView{Name: name, SVG: template.HTML(svg), HasRange: ok, Lo: rg.Lo, Hi: rg.Hi, SQNR: "-"}
		if t, ok := sqnr[name]; ok {
			hv.SQNR = dB(t.Worst())
		}
		v.Hists = append(v.Hists, hv)
	}
	v.MaxHists = maxH
	for _, t := range ts {
		v.Tensors = append(v.Tensors, tensorView{t.Name, t.Kind, t.Ref, dB(t.SQNR), dB(t.LocalSQNR)})
	}
	if e := p.Eval; e != nil {
		for _, o := range e.Outputs {
			agree := "-"
			if !math.IsNaN(o.ArgmaxAgreement) {
				agree = fmt.Sprintf("%.2f%%", 100*o.ArgmaxAgreement)
			}
			v.Outputs = append(v.Outputs, Row{o.Name, fmt.Sprintf("SQNR %s dB · cosine %.5f · max |error| %.4g · argmax agreement %s", dB(o.SQNR), o.Cosine, o.MaxAbs, agree)})
		}
		if !math.IsNaN(e.RefAccuracy) {
			v.Outputs = append(v.Outputs, Row{"top-1 accuracy", fmt.Sprintf("float %.2f%% → quantized %.2f%%", 100*e.RefAccuracy, 100*e.TestAccuracy)})
		}
		v.Samples = e.Samples
	}
	v.Reasons = reasons(p.Float)
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, v); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

type view struct {
	*Page
	Chart    template.HTML
	Hists    []histView
	Omitted  int
	MaxHists int
	Tensors  []tensorView
	Outputs  []Row
	Samples  int
	Reasons  []reasonView
}

type reasonView struct {
	Count          int
	OpType, Reason string
}

type histView struct {
	Name     string
	SVG      template.HTML
	HasRange bool
	Lo, Hi   float32
	SQNR     string
}

type tensorView struct{ Name, Kind, Ref, SQNR, Local string }

func dB(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case math.IsInf(x, 1):
		return "∞"
	}
	return fmt.Sprintf("%.2f", x)
}

// inlineSVG drops the XML prolog so the SVG can sit inside HTML.
func inlineSVG(b []byte) string {
	s := string(b)
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return s
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .8em;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f5f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:1em}
.card{border:1px solid #e3e3e8;border-radius:6px;padding:.5em}.card h3{font-size:.85em;margin:.2em 0;word-break:break-all}
.card p{font-size:.8em;margin:.2em 0;color:#555}svg{max-width:100%;height:auto}
.note{color:#666;font-size:.9em}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="note">Generated by ptq. Self-contained: opens from disk, loads nothing.</p>
<h2>Summary</h2>
<table>{{range .Summary}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>{{end}}
{{range .Outputs}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>{{end}}</table>
{{if .Samples}}<p class="note">Quality measured in ptq's engine on {{.Samples}} evaluation samples, float model vs quantized model.</p>{{end}}
{{if .Float}}<h2>Left in float ({{len .Float}})</h2>
<table><tr><th>nodes</th><th>op</th><th>reason</th></tr>{{range .Reasons}}<tr><td class="num">{{.Count}}</td><td>{{.OpType}}</td><td>{{.Reason}}</td></tr>{{end}}</table>
<details><summary>Every node ({{len .Float}})</summary>
<table><tr><th>node</th><th>op</th><th>reason</th></tr>{{range .Float}}<tr><td>{{.Node}}</td><td>{{.OpType}}</td><td>{{.Reason}}</td></tr>{{end}}</table></details>{{end}}
{{if .Chart}}<h2>Per-layer SQNR</h2>
<p class="note">SQNR of each quantized tensor against the float model's (dB, higher is better), worst first; tensors without a float counterpart show the error their own quantization adds.</p>
<figure>{{.Chart}}</figure>
<details><summary>Table ({{len .Tensors}} tensors)</summary>
<table><tr><th>tensor</th><th>kind</th><th>float tensor</th><th>SQNR dB</th><th>local SQNR dB</th></tr>{{range .Tensors}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.Ref}}</td><td class="num">{{.SQNR}}</td><td class="num">{{.Local}}</td></tr>{{end}}</table></details>{{end}}
{{if and (not .Hists) .Chart}}<h2>Activation histograms</h2>
<p class="note">No histograms: the range method collected none (histogram methods: mse, entropy, percentile, aciq-*).</p>{{end}}
{{if .Hists}}<h2>Activation histograms</h2>
<p class="note">Calibration histogram of each quantized activation (log scale), with the clipping range chosen (red). {{if .Omitted}}Showing the {{.MaxHists}} worst by SQNR; {{.Omitted}} more not drawn.{{end}}</p>
<div class="grid">{{range .Hists}}<div class="card"><h3>{{.Name}}</h3><p>{{if .HasRange}}range [{{.Lo}}, {{.Hi}}]{{end}} · SQNR {{.SQNR}} dB</p>{{.SVG}}</div>{{end}}</div>{{end}}
</body></html>
`))

// quoted matches the tensor names inside reasons, left out when grouping.
var quoted = regexp.MustCompile(`"[^"]*"`)

// reasons groups the float nodes by op type and reason (tensor names left
// out), most frequent first: a big model leaves hundreds of nodes in float
// for a handful of reasons.
func reasons(fs []FloatNode) []reasonView {
	idx := map[[2]string]int{}
	var out []reasonView
	for _, f := range fs {
		f.Reason = quoted.ReplaceAllString(f.Reason, "…")
		k := [2]string{f.OpType, f.Reason}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, reasonView{OpType: f.OpType, Reason: f.Reason})
		}
		out[i].Count++
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}
