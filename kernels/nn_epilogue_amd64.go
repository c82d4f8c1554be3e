//go:build !purego

package kernels

import "math"

// Vector forms of the chain steps (nn_epilogue.go), implemented in
// nn_epilogue_amd64.s for n a multiple of 8; the Go loops do the rest.

//go:noescape
func epiScalarAVX2(k int, x *float32, n int, b float32)

//go:noescape
func epiVectorAVX2(k int, x, b *float32, n int)

//go:noescape
func epiClampAVX2(x *float32, n int, lo, hi float32)

//go:noescape
func epiHardSwishAVX2(x *float32, n int)

//go:noescape
func epiHardSigmoidAVX2(x *float32, n int, a, b float32)

func vecScalarOp(k epiKind, x []float32, b float32) {
	i := 0
	if nnHasAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		epiScalarAVX2(int(k), &x[0], i, b)
	}
	epiScalarGo(k, x[i:], b)
}

func vecVectorOp(k epiKind, x, b []float32) {
	b = b[:len(x)]
	i := 0
	if nnHasAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		epiVectorAVX2(int(k), &x[0], &b[0], i)
	}
	epiVectorGo(k, x[i:], b[i:])
}

func vecClamp(x []float32, lo, hi float32) {
	i := 0
	if nnHasAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		epiClampAVX2(&x[0], i, lo, hi)
	}
	epiClampGo(x[i:], lo, hi)
}

func vecHardSwish(x []float32) {
	i := 0
	if nnHasAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		epiHardSwishAVX2(&x[0], i)
	}
	epiHardSwishGo(x[i:])
}

func vecHardSigmoid(x []float32, a, b float32) {
	i := 0
	if nnHasAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		epiHardSigmoidAVX2(&x[0], i, a, b)
	}
	epiHardSigmoidGo(x[i:], a, b)
}

// epiAsmStep is one step of the AVX-512 chain program
// (nn_epiprog_amd64.s): codes 0-5 are the binary kinds with a scalar
// operand a, 10-15 and 20-25 the same with slot 0 or 1 as operand, 30 clamp
// to [a, b], 31 HardSwish, 32 HardSigmoid(a, b), 40 and 41 keep the value in
// slot 0 or 1.
type epiAsmStep struct {
	code int32
	a, b float32
	_    int32
}

//go:noescape
func epiProgAVX512(x *float32, n int, steps *epiAsmStep, nsteps int)

// runFast runs the program with AVX-512 over the longest prefix of y that
// is a multiple of 64 values, when every step has a vector form there, and
// returns how many values it did.
func (p *epiProg) runFast(y []float32, ch int) int {
	if !nnHasAVX512 || len(y) < 64 || !p.vec {
		return 0
	}
	var st [2*engineChainMax + 2]epiAsmStep
	n := 0
	add := func(code int32, a, b float32) {
		st[n] = epiAsmStep{code: code, a: a, b: b}
		n++
	}
	if p.save0 >= 0 {
		add(40+int32(p.save0), 0, 0)
	}
	for i := range p.steps {
		s := &p.steps[i]
		switch s.kind {
		case epiAdd, epiSub, epiRSub, epiMul, epiDiv, epiRDiv:
			switch s.opnd.mode {
			case epiModeScalar:
				add(int32(s.kind), s.opnd.s, 0)
			case epiModeChannel:
				add(int32(s.kind), s.opnd.v[ch], 0)
			case epiModeSlot:
				add(10*int32(1+s.opnd.slot)+int32(s.kind), 0, 0)
			}
		case epiRelu:
			add(30, 0, float32(math.Inf(1)))
		case epiClip:
			add(30, s.a, s.b)
		case epiHardSwish:
			add(31, 0, 0)
		case epiHardSigmoid:
			add(32, s.a, s.b)
		}
		if s.save >= 0 {
			add(40+int32(s.save), 0, 0)
		}
	}
	m := len(y) &^ 63
	epiProgAVX512(&y[0], m, &st[0], n)
	return m
}
