package report

import (
	"bytes"
	"image/color"
	"math"
	"regexp"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/compare"
)

// maxBars bounds the SQNR chart; the table below it lists every tensor.
const maxBars = 80

// displayBins is the number of bins a calibration histogram is drawn with.
const displayBins = 96

var (
	blue   = color.RGBA{R: 0x3b, G: 0x6e, B: 0xc4, A: 0xff}
	orange = color.RGBA{R: 0xf0, G: 0x8c, B: 0x2a, A: 0xff}
	red    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

// sqnrChart draws the SQNR of the worst tensors as horizontal bars, worst
// at the top. Infinite SQNR (no error) is drawn at the largest finite one.
func sqnrChart(ts []compare.TensorReport) (string, error) {
	if len(ts) > maxBars {
		ts = ts[:maxBars]
	}
	top := 0.0
	for _, t := range ts {
		if w := t.Worst(); !math.IsInf(w, 0) && !math.IsNaN(w) {
			top = math.Max(top, w)
		}
	}
	if top == 0 {
		top = 1
	}
	n := len(ts)
	acts, weights := make(plotter.Values, n), make(plotter.Values, n)
	names := make([]string, n)
	for i, t := range ts {
		k := n - 1 - i // the plot counts from the bottom
		w := t.Worst()
		switch {
		case math.IsNaN(w):
			w = 0
		case math.IsInf(w, 1):
			w = top
		case w < 0:
			w = 0
		}
		if t.Kind == compare.Weight {
			weights[k] = w
		} else {
			acts[k] = w
		}
		names[k] = shorten(t.Name, 48)
	}
	p := plot.New()
	p.X.Label.Text = "SQNR (dB)"
	p.X.Min = 0
	p.X.Max = top * 1.25 // room for the legend
	p.Add(plotter.NewGrid())
	barH := vg.Points(11)
	for _, s := range []struct {
		vals  plotter.Values
		color color.Color
		label string
	}{{acts, blue, "activation"}, {weights, orange, "weight"}} {
		bars, err := plotter.NewBarChart(s.vals, barH)
		if err != nil {
			return "", err
		}
		bars.Horizontal = true
		bars.Color = s.color
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(s.label, bars)
	}
	p.Legend.Top = true
	p.NominalY(names...)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	return render(p, 9*vg.Inch, vg.Length(n)*vg.Points(14)+vg.Inch)
}

// histogramPlot draws the calibration histogram of one tensor, on a log
// count axis, with the clipping range as two red lines.
func histogramPlot(name string, h *calibrate.Histogram, rg calibrate.Range, haveRange bool) (string, error) {
	w := h.Width()
	lo := float64(h.Offset) * w
	hi := float64(h.Offset+int64(len(h.Counts))) * w
	if haveRange {
		lo = math.Min(lo, float64(rg.Lo))
		hi = math.Max(hi, float64(rg.Hi))
	}
	if hi <= lo {
		hi = lo + 1
	}
	step := (hi - lo) / displayBins
	counts := make([]float64, displayBins)
	for j, c := range h.Counts {
		if c == 0 {
			continue
		}
		x := (float64(h.Offset+int64(j)) + 0.5) * w
		k := int((x - lo) / step)
		k = min(max(k, 0), displayBins-1)
		counts[k] += float64(c)
	}
	bins := make([]plotter.HistogramBin, displayBins)
	ymax := 0.0
	for k := range bins {
		y := math.Log10(1 + counts[k])
		bins[k] = plotter.HistogramBin{Min: lo + float64(k)*step, Max: lo + float64(k+1)*step, Weight: y}
		ymax = math.Max(ymax, y)
	}
	p := plot.New()
	p.X.Label.Text = "value"
	p.Y.Label.Text = "log10(1 + count)"
	p.Y.Min = 0
	p.Y.Max = math.Max(ymax*1.08, 1)
	hist := &plotter.Histogram{Bins: bins, Width: step, FillColor: blue}
	hist.LineStyle.Width = 0
	p.Add(hist)
	if haveRange {
		for _, x := range []float32{rg.Lo, rg.Hi} {
			l, err := plotter.NewLine(plotter.XYs{{X: float64(x), Y: 0}, {X: float64(x), Y: p.Y.Max}})
			if err != nil {
				return "", err
			}
			l.Color = red
			l.Width = vg.Points(1.5)
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			p.Add(l)
		}
	}
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	return render(p, 4*vg.Inch, 2.4*vg.Inch)
}

var xmlns = regexp.MustCompile(`\s+xmlns(:\w+)?="[^"]*"`)

// render draws p as an SVG fit for inlining in HTML: no XML prolog and no
// namespace URLs (HTML's parser puts <svg> in the SVG namespace itself).
func render(p *plot.Plot, w, h vg.Length) (string, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	return xmlns.ReplaceAllString(inlineSVG(buf.Bytes()), ""), nil
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
