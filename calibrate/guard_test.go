package calibrate

import (
	"math/rand/v2"
	"testing"

	"github.com/ptq-dev/ptq/quant"
)

// TestGuardClip: a sigmoid gate whose values sit mostly near 0 with one in
// a thousand open (0.5 to 1), and a hard-swish output whose bulk is near 0
// with one in fifty values spread up to 6, as PP-OCR rec has them. Entropy
// and ACIQ fit shapes and clip these far inside their spikes or tails; the
// guard must then give ranges no worse than ten times the error of no
// clipping, while Gauss data with three far outliers keeps its clipped
// range (TestEntropyKnownAnswers).
func TestGuardClip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	gate := make([]float32, 100000)
	for i := range gate {
		gate[i] = float32(min(r.ExpFloat64()*0.02, 1))
		if i%1000 == 0 {
			gate[i] = 0.5 + 0.5*r.Float32()
		}
	}
	hswish := make([]float32, 100000)
	for i := range hswish {
		x := float32(r.NormFloat64()) * 0.3
		if i%50 == 0 {
			x = 1 + 5*r.Float32()
		}
		hswish[i] = x * min(max(x+3, 0), 6) / 6
	}
	target := Target{Type: quant.Uint8}
	for name, xs := range map[string][]float32{"gate": gate, "hard-swish": hswish} {
		o := NewObserver(Granularity{}, Needs{HistogramBins: DefaultHistogramBins})
		observeAll(t, o, xs, 10000)
		s := &o.Summaries[0]
		whole := rangeError(s, target, Range{Lo: s.Min, Hi: s.Max})
		guarded := 0
		for _, m := range []Method{Entropy{}, ACIQ{Dist: Laplace}, ACIQ{Dist: Gauss}} {
			rs, err := o.Ranges(m, target)
			if err != nil {
				t.Fatal(err)
			}
			e := rangeError(s, target, rs[0])
			t.Logf("%s, %s: %v, error %.3g x the whole range's", name, m, rs[0], e/whole)
			if e > 10*whole {
				t.Errorf("%s, %s: range %v costs %.3g times the error of no clipping", name, m, rs[0], e/whole)
			}
		}
		// The guard must have had work to do, or this test proves nothing.
		for _, raw := range []Range{ACIQ{Dist: Gauss}.fit(s, target), ACIQ{Dist: Laplace}.fit(s, target)} {
			if rangeError(s, target, raw) > 10*whole {
				guarded++
			}
		}
		if guarded == 0 {
			t.Errorf("%s: no unguarded ACIQ fit was bad; the fixture does not exercise the guard", name)
		}
	}
}
