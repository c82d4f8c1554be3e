package kernels

import (
	"fmt"
	"sort"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// NonMaxSuppression ends most exported detectors (torchvision's SSD and
// Faster R-CNN, YOLO exports); without it a detector cannot be calibrated.

func init() {
	register("NonMaxSuppression", 10, buildNMS)
}

func buildNMS(n *graph.Node, opset int) (Op, error) {
	center := n.AttrInt("center_point_box", 0)
	if center != 0 && center != 1 {
		return nil, fmt.Errorf("NonMaxSuppression: center_point_box %d, want 0 or 1", center)
	}
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		t, err := nms(ctx, in, center == 1)
		if err != nil {
			return nil, fmt.Errorf("NonMaxSuppression: %w", err)
		}
		return []*tensor.Tensor{t}, nil
	}), nil
}

// nmsBox is a box as [y1, x1, y2, x2] with y1 <= y2 and x1 <= x2.
type nmsBox [4]float32

func (b nmsBox) area() float32 { return (b[2] - b[0]) * (b[3] - b[1]) }

// suppresses reports whether a box overlapping kept with an IoU above
// threshold. Empty boxes never suppress (as ONNX Runtime).
func (b nmsBox) suppresses(o nmsBox, threshold float32) bool {
	a1, a2 := b.area(), o.area()
	if a1 <= 0 || a2 <= 0 {
		return false
	}
	ih := min(b[2], o[2]) - max(b[0], o[0])
	iw := min(b[3], o[3]) - max(b[1], o[1])
	if ih <= 0 || iw <= 0 {
		return false
	}
	inter := ih * iw
	union := a1 + a2 - inter
	if union <= 0 {
		return false
	}
	return inter/union > threshold
}

// nms runs greedy non-maximum suppression per batch and class: boxes in
// decreasing score order (ties: lower index first) are kept unless they
// overlap a kept box by more than the IoU threshold, scores at or below the
// score threshold are dropped, and at most max_output_boxes_per_class boxes
// are kept per class. The output is [selected, 3] int64 (batch, class, box).
func nms(ctx *Context, in []*tensor.Tensor, center bool) (*tensor.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("want boxes and scores")
	}
	boxes, scores := in[0], in[1]
	if boxes.DType != tensor.Float || scores.DType != tensor.Float {
		return nil, fmt.Errorf("boxes %v and scores %v, want float32", boxes.DType, scores.DType)
	}
	if len(boxes.Shape) != 3 || boxes.Shape[2] != 4 || len(scores.Shape) != 3 ||
		scores.Shape[0] != boxes.Shape[0] || scores.Shape[2] != boxes.Shape[1] {
		return nil, fmt.Errorf("boxes %v and scores %v, want [B,N,4] and [B,C,N]", boxes.Shape, scores.Shape)
	}
	maxOut := int64(0)
	if len(in) > 2 && in[2] != nil {
		// Read as an integer: exporters pass INT64_MAX for "no limit",
		// which a float64 round trip would turn negative.
		d, ok := in[2].Data.([]int64)
		if !ok || len(d) != 1 {
			return nil, fmt.Errorf("max_output_boxes_per_class: %v %v, want one int64", in[2].DType, in[2].Shape)
		}
		maxOut = d[0]
	}
	iou, scoreMin, useScore := float32(0), float32(0), false
	if len(in) > 3 && in[3] != nil {
		v, err := nmsScalar(in[3])
		if err != nil {
			return nil, fmt.Errorf("iou_threshold: %w", err)
		}
		iou = float32(v)
	}
	if len(in) > 4 && in[4] != nil {
		v, err := nmsScalar(in[4])
		if err != nil {
			return nil, fmt.Errorf("score_threshold: %w", err)
		}
		scoreMin, useScore = float32(v), true
	}
	nb, nc, n := scores.Shape[0], scores.Shape[1], scores.Shape[2]
	bd, sd := boxes.Float32(), scores.Float32()
	var sel []int64
	all := make([]nmsBox, n)
	order := make([]int, 0, n)
	var kept []nmsBox
	for b := range nb {
		for i := range n {
			c := bd[(b*n+i)*4 : (b*n+i)*4+4]
			var y1, x1, y2, x2 float32
			if center {
				x1, x2 = c[0]-c[2]/2, c[0]+c[2]/2
				y1, y2 = c[1]-c[3]/2, c[1]+c[3]/2
			} else {
				y1, x1, y2, x2 = min(c[0], c[2]), min(c[1], c[3]), max(c[0], c[2]), max(c[1], c[3])
			}
			all[i] = nmsBox{y1, x1, y2, x2}
		}
		for c := range nc {
			s := sd[(b*nc+c)*n : (b*nc+c+1)*n]
			order = order[:0]
			for i, v := range s {
				if !useScore || v > scoreMin {
					order = append(order, i)
				}
			}
			sort.SliceStable(order, func(i, j int) bool { return s[order[i]] > s[order[j]] })
			kept = kept[:0]
			for _, i := range order {
				if int64(len(kept)) >= maxOut {
					break
				}
				ok := true
				for _, k := range kept {
					if k.suppresses(all[i], iou) {
						ok = false
						break
					}
				}
				if ok {
					kept = append(kept, all[i])
					sel = append(sel, int64(b), int64(c), int64(i))
				}
			}
		}
	}
	out := ctx.NewTensor(tensor.Int64, len(sel)/3, 3)
	copy(out.Int64(), sel)
	return out, nil
}

// nmsScalar reads a one-element float tensor.
func nmsScalar(t *tensor.Tensor) (float64, error) {
	if tensor.NumElements(t.Shape) != 1 {
		return 0, fmt.Errorf("shape %v, want one element", t.Shape)
	}
	switch d := t.Data.(type) {
	case []float32:
		return float64(d[0]), nil
	case []float64:
		return d[0], nil
	}
	return 0, fmt.Errorf("type %v", t.DType)
}
