package kernels

import (
	"math"
	"slices"
	"testing"

	"github.com/ptq-dev/ptq/tensor"
)

func TestNMS(t *testing.T) {
	// ONNX's suppress_by_IOU boxes: three overlapping near 0, two near 10,
	// one at 100.
	boxes := tensor.FromFloat32([]float32{
		0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, -0.1, 1, 0.9,
		0, 10, 1, 11, 0, 10.1, 1, 11.1, 0, 100, 1, 101}, 1, 6, 4)
	scores := tensor.FromFloat32([]float32{0.9, 0.75, 0.6, 0.95, 0.5, 0.3}, 1, 1, 6)
	i64 := func(v int64) *tensor.Tensor {
		return &tensor.Tensor{DType: tensor.Int64, Shape: []int{1}, Data: []int64{v}}
	}
	f32 := func(v float32) *tensor.Tensor { return tensor.FromFloat32([]float32{v}, 1) }
	for _, tc := range []struct {
		name string
		in   []*tensor.Tensor
		want []int64
	}{
		{"iou", []*tensor.Tensor{boxes, scores, i64(3), f32(0.5)}, []int64{0, 0, 3, 0, 0, 0, 0, 0, 5}},
		{"limit", []*tensor.Tensor{boxes, scores, i64(2), f32(0.5)}, []int64{0, 0, 3, 0, 0, 0}},
		// The score threshold is strict: 0.3 itself is dropped.
		{"score", []*tensor.Tensor{boxes, scores, i64(3), f32(0.5), f32(0.3)}, []int64{0, 0, 3, 0, 0, 0}},
		{"no max", []*tensor.Tensor{boxes, scores}, nil},
		// torchvision passes INT64_MAX for "no limit".
		{"int64 max", []*tensor.Tensor{boxes, scores, i64(math.MaxInt64), f32(0.5)}, []int64{0, 0, 3, 0, 0, 0, 0, 0, 5}},
		// Equal scores keep the lower index first.
		{"ties", []*tensor.Tensor{boxes, tensor.FromFloat32([]float32{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, 1, 1, 6), i64(6), f32(0.5)},
			[]int64{0, 0, 0, 0, 0, 3, 0, 0, 5}},
	} {
		got, err := nms(nil, tc.in, false)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.Shape[1] != 3 || !slices.Equal(got.Int64(), tc.want) && !(len(tc.want) == 0 && got.Len() == 0) {
			t.Errorf("%s: selected %v (shape %v), want %v", tc.name, got.Int64(), got.Shape, tc.want)
		}
	}
	if _, err := nms(nil, []*tensor.Tensor{boxes, tensor.FromFloat32(make([]float32, 5), 1, 1, 5)}, false); err == nil {
		t.Error("5 scores for 6 boxes accepted")
	}
}
