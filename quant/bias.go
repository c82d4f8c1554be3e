package quant

import (
	"fmt"
	"math"
)

// BiasScale is the scale of an int32 bias added to the int32 accumulator of
// a quantized convolution or matrix product: the product of the input scale
// and the weight scale, in float32 as ONNX Runtime computes it. The zero
// point of a bias is always 0.
func BiasScale(inputScale, weightScale float32) float32 {
	return inputScale * weightScale
}

// QuantizeBias quantizes a bias vector to int32 with zero point 0 and scale
// inputScale × weightScales[c] for output channel c. weightScales has one
// entry (per-tensor weights) or one per bias element (per-channel weights).
// Values beyond the int32 range saturate. It returns the quantized values
// and the scale of each element.
func QuantizeBias(bias []float32, inputScale float32, weightScales []float32) ([]int32, []float32, error) {
	if len(weightScales) != 1 && len(weightScales) != len(bias) {
		return nil, nil, fmt.Errorf("quant: bias has %d elements but %d weight scales", len(bias), len(weightScales))
	}
	q := make([]int32, len(bias))
	scales := make([]float32, len(bias))
	for i, b := range bias {
		ws := weightScales[0]
		if len(weightScales) > 1 {
			ws = weightScales[i]
		}
		s := BiasScale(inputScale, ws)
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, nil, fmt.Errorf("quant: bias element %d: scale %g × %g = %g is not a positive finite number", i, inputScale, ws, s)
		}
		scales[i] = s
		v := math.RoundToEven(float64(b / s))
		switch {
		case v != v:
			q[i] = 0
		case v > math.MaxInt32:
			q[i] = math.MaxInt32
		case v < math.MinInt32:
			q[i] = math.MinInt32
		default:
			q[i] = int32(v)
		}
	}
	return q, scales, nil
}
