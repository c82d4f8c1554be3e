package calibrate

import (
	"math"
	"testing"
)

// The optimal clipping values published with ACIQ (Banner et al., 2019).
// The exact roots of the seed's equation (3.8972 for 3 bits, 8.6456 for 7)
// differ from some published entries (3.89, 8.64) by up to 0.0072, as if
// those were truncated rather than rounded; they agree to within one unit of
// the second decimal everywhere.
func TestACIQAlphaTable(t *testing.T) {
	want := map[Dist][]float64{
		Laplace: {2.83, 3.89, 5.03, 6.20, 7.41, 8.64, 9.89},
		Gauss:   {1.71, 2.15, 2.55, 2.94, 3.29, 3.61, 3.92},
	}
	for d, vals := range want {
		for i, w := range vals {
			bits := i + 2
			got := ACIQAlpha(d, bits)
			if math.Abs(got-w) >= 0.01 {
				t.Errorf("%v, %d bits: alpha = %.4f, want %.2f", d, bits, got, w)
			}
		}
	}
}

// At the root the derivative of the seed's error expression vanishes.
func TestClipRatioSolvesSeedEquation(t *testing.T) {
	for bits := 2; bits <= 16; bits++ {
		a := ACIQAlpha(Laplace, bits)
		lhs := 2 * a / (3 * math.Pow(4, float64(bits)))
		rhs := 2 * math.Exp(-a)
		if math.Abs(lhs-rhs) > 1e-12*rhs {
			t.Errorf("%d bits: 2a/(3·4^M) = %g, 2b·e^-a = %g", bits, lhs, rhs)
		}
	}
	if one, two := ClipRatio(Laplace, 256), ACIQAlpha(Laplace, 9); one != two {
		t.Errorf("one-sided 8 bits (%g) should equal two-sided 9 bits (%g)", one, two)
	}
}
