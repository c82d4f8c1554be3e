//go:build !purego

package kernels

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
