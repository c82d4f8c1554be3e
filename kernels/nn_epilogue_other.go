//go:build !amd64 || purego

package kernels

func vecScalarOp(k epiKind, x []float32, b float32) { epiScalarGo(k, x, b) }
func vecVectorOp(k epiKind, x, b []float32)         { epiVectorGo(k, x, b) }
func vecClamp(x []float32, lo, hi float32)          { epiClampGo(x, lo, hi) }
func vecHardSwish(x []float32)                      { epiHardSwishGo(x) }
func vecHardSigmoid(x []float32, a, b float32)      { epiHardSigmoidGo(x, a, b) }

// runFast has no vector form in this build.
func (p *epiProg) runFast(y []float32, ch int) int { return 0 }
