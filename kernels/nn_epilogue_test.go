package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The vector chain steps must give the Go loops' bits on every length (the
// tails run in Go) and every kind, including NaN and signed zeros in x.
func TestEpiVectorStepsMatchGo(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	data := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 4)
		}
		if n > 5 {
			v[1], v[3], v[5] = float32(math.NaN()), float32(math.Copysign(0, -1)), 0
		}
		return v
	}
	same := func(a, b float32) bool {
		return a == b || (a != a && b != b)
	}
	check := func(t *testing.T, what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if !same(got[i], want[i]) {
				t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 33, 100} {
		for k := epiAdd; k <= epiRDiv; k++ {
			x, b := data(n), data(n)
			want := append([]float32(nil), x...)
			epiScalarGo(k, want, 1.7)
			got := append([]float32(nil), x...)
			vecScalarOp(k, got, 1.7)
			check(t, "scalar", got, want)
			want = append(want[:0], x...)
			epiVectorGo(k, want, b)
			got = append(got[:0], x...)
			vecVectorOp(k, got, b)
			check(t, "vector", got, want)
		}
		x := data(n)
		for _, c := range []struct {
			name     string
			vec, go_ func([]float32)
		}{
			{"clamp", func(v []float32) { vecClamp(v, -0.5, 2) }, func(v []float32) { epiClampGo(v, -0.5, 2) }},
			{"relu", func(v []float32) { vecClamp(v, 0, float32(math.Inf(1))) }, func(v []float32) { epiClampGo(v, 0, float32(math.Inf(1))) }},
			{"hardswish", vecHardSwish, epiHardSwishGo},
			{"hardsigmoid", func(v []float32) { vecHardSigmoid(v, 0.3, 0.4) }, func(v []float32) { epiHardSigmoidGo(v, 0.3, 0.4) }},
		} {
			got, want := append([]float32(nil), x...), append([]float32(nil), x...)
			c.vec(got)
			c.go_(want)
			// Signed zeros may differ (max(0, -0)); values may not.
			for i := range want {
				if !same(got[i], want[i]) {
					t.Fatalf("%s n=%d: [%d] = %v, want %v", c.name, n, i, got[i], want[i])
				}
			}
		}
	}
}

// sigmoid32 stays within a few ulp of the float64 formula over the whole
// range, saturates like it and keeps NaN.
func TestSigmoid32(t *testing.T) {
	worst := 0.0
	for x := float32(-100); x <= 100; x += 0.01371 {
		want := sigmoid(float64(x))
		got := float64(sigmoid32(x))
		if want < 1e-37 {
			if got > 1e-37 {
				t.Fatalf("sigmoid32(%v) = %v, want about %v", x, got, want)
			}
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 1e-6 {
		t.Errorf("worst relative error %g, want below 1e-6", worst)
	}
	if v := sigmoid32(float32(math.NaN())); v == v {
		t.Errorf("sigmoid32(NaN) = %v", v)
	}
	if sigmoid32(0) != 0.5 || sigmoid32(200) != 1 || sigmoid32(-200) != 0 {
		t.Errorf("sigmoid32(0, 200, -200) = %v, %v, %v", sigmoid32(0), sigmoid32(200), sigmoid32(-200))
	}
}

// vecExp32 gives nnExp32's bits everywhere: the whole float32 range that
// matters, the clamps, overflow to 2^128 and NaN, on lengths with tails.
func TestVecExp32MatchesScalar(t *testing.T) {
	var xs []float32
	for x := float32(-100); x <= 100; x += 0.0173 {
		xs = append(xs, x)
	}
	xs = append(xs, 88.72283, 88.7228, 88.72284, -87.33654, -87.33655, -87.3365, 0, float32(math.Copysign(0, -1)),
		float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e30, -1e30, 88.5, 88.6, 88.7)
	for _, n := range []int{len(xs), 15, 16, 17, 33} {
		s := xs[len(xs)-n:]
		got := make([]float32, n)
		vecExp32(got, s)
		for i, x := range s {
			want := nnExp32(x)
			if math.Float32bits(got[i]) != math.Float32bits(want) && !(want != want && got[i] != got[i]) {
				t.Fatalf("n=%d: exp(%v) = %v, nnExp32 %v", n, x, got[i], want)
			}
		}
	}
}

// vecSigmoid32 is sigmoid32 element by element, also in place.
func TestVecSigmoid32(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	for _, n := range []int{0, 5, 16, 255, 256, 257, 700} {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.NormFloat64() * 10)
		}
		if n > 3 {
			s[0], s[1], s[2] = float32(math.NaN()), float32(math.Copysign(0, -1)), 100
		}
		d := make([]float32, n)
		vecSigmoid32(d, s)
		for i, x := range s {
			want := sigmoid32(x)
			if d[i] != want && !(want != want && d[i] != d[i]) {
				t.Fatalf("n=%d: sigmoid(%v) = %v, want %v", n, x, d[i], want)
			}
		}
		vecSigmoid32(s, s)
		for i := range s {
			if s[i] != d[i] && !(s[i] != s[i] && d[i] != d[i]) {
				t.Fatalf("n=%d: in place [%d] = %v, want %v", n, i, s[i], d[i])
			}
		}
	}
}

// The register-resident program (runFast, rows of 64 values or more) gives
// the bits of the step-by-step loops (rows shorter than 64) for every step
// kind, operand mode and kept value.
func TestEpiProgLongRowsMatchShort(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	ch := []float32{0.7, -1.3, 2.5}
	sc := func(k epiKind, v float32, save int) epiStep {
		return epiStep{kind: k, opnd: epiOperand{mode: epiModeScalar, s: v}, save: save}
	}
	slot := func(k epiKind, s, save int) epiStep {
		return epiStep{kind: k, opnd: epiOperand{mode: epiModeSlot, slot: s}, save: save}
	}
	un := func(k epiKind, a, b float32, save int) epiStep { return epiStep{kind: k, a: a, b: b, save: save} }
	progs := []*epiProg{
		// PP-OCR: affine, HardSwish as Add/Clip/Mul/Div, affine per channel
		{save0: -1, steps: []epiStep{sc(epiMul, 0.9, -1), sc(epiAdd, 0.5, 0), sc(epiAdd, 3, -1), un(epiClip, 0, 6, -1),
			slot(epiMul, 0, -1), sc(epiDiv, 6, -1), {kind: epiMul, opnd: epiOperand{mode: epiModeChannel, v: ch}, save: -1}, sc(epiAdd, -0.2, -1)}},
		{save0: 1, steps: []epiStep{sc(epiRSub, 1.5, -1), sc(epiRDiv, 2, 0), un(epiHardSwish, 0, 0, -1), slot(epiSub, 0, -1),
			slot(epiRSub, 1, -1), slot(epiRDiv, 0, -1), slot(epiDiv, 1, -1), un(epiHardSigmoid, 0.3, 0.45, -1), un(epiRelu, 0, 0, -1), slot(epiAdd, 1, -1)}},
	}
	for pi, p := range progs {
		p.setVec()
		if !p.vec {
			t.Fatalf("program %d has no vector form", pi)
		}
		for _, n := range []int{64, 200, 257} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 3)
			}
			got, want := append([]float32(nil), x...), append([]float32(nil), x...)
			p.run(got, 1, 0)
			for start := 0; start < n; start += 63 {
				p.run(want[start:min(start+63, n)], 1, start)
			}
			for i := range want {
				if got[i] != want[i] && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("program %d n=%d: [%d] = %v, want %v (x %v)", pi, n, i, got[i], want[i], x[i])
				}
			}
		}
	}
}
