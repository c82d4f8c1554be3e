package kernels

import (
	"fmt"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// This file holds the helpers shared by the neural-network operators
// (nn_*.go): element-type plumbing and the sliding-window geometry that
// Conv, ConvTranspose and the pools have in common.

// nnFloat is the element types the float kernels are written for.
type nnFloat interface{ ~float32 | ~float64 }

// nnDType is the tensor element type that holds T.
func nnDType[T nnFloat]() tensor.DType {
	var z T
	if _, ok := any(z).(float64); ok {
		return tensor.Double
	}
	return tensor.Float
}

// nnData returns the data of a float tensor as []T, or an error naming the
// operand when the tensor is missing or of another type.
func nnData[T nnFloat](t *tensor.Tensor, what string) ([]T, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: missing input", what)
	}
	d, ok := t.Data.([]T)
	if !ok {
		return nil, fmt.Errorf("%s: got %v, want %v", what, t.DType, nnDType[T]())
	}
	return d, nil
}

// nnCheckFloat reports an error unless t is a float32 or float64 tensor.
func nnCheckFloat(t *tensor.Tensor, what string) error {
	if t == nil {
		return fmt.Errorf("%s: missing input", what)
	}
	if t.DType != tensor.Float && t.DType != tensor.Double {
		return fmt.Errorf("%s: unsupported element type %v (want float32 or float64)", what, t.DType)
	}
	return nil
}

// nnNormAxis maps a possibly negative axis into [0, rank).
func nnNormAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}

// nnInts reads an integer tensor (int64 or int32) as ints.
func nnInts(t *tensor.Tensor) ([]int, error) {
	switch d := t.Data.(type) {
	case []int64:
		out := make([]int, len(d))
		for i, v := range d {
			out[i] = int(v)
		}
		return out, nil
	case []int32:
		out := make([]int, len(d))
		for i, v := range d {
			out[i] = int(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want an int64 tensor, got %v", t.DType)
}

// nnFloats reads a float tensor (float32, float64 or float16) as float64s.
func nnFloats(t *tensor.Tensor) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, nil
	case []float64:
		return append([]float64(nil), d...), nil
	}
	if t.DType == tensor.Float16 {
		d := t.Data.([]uint16)
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(tensor.Float16ToFloat32(v))
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a float tensor, got %v", t.DType)
}

func nnToInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// nnWindow is the sliding-window geometry of Conv and the pools, parsed from
// the node's attributes. Fields left nil take their defaults once the
// number of spatial dimensions is known at run time.
type nnWindow struct {
	kernel    []int // kernel_shape; nil means "from the weight"
	strides   []int
	dilations []int
	pads      []int // begin values then end values
	autoPad   string
	ceil      bool
}

func nnParseWindow(n *graph.Node) (nnWindow, error) {
	w := nnWindow{
		kernel:    nnToInts(n.AttrInts("kernel_shape", nil)),
		strides:   nnToInts(n.AttrInts("strides", nil)),
		dilations: nnToInts(n.AttrInts("dilations", nil)),
		pads:      nnToInts(n.AttrInts("pads", nil)),
		autoPad:   n.AttrString("auto_pad", "NOTSET"),
		ceil:      n.AttrInt("ceil_mode", 0) != 0,
	}
	for _, v := range []*[]int{&w.kernel, &w.strides, &w.dilations, &w.pads} {
		if len(*v) == 0 {
			*v = nil
		}
	}
	switch w.autoPad {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "":
	default:
		return w, fmt.Errorf("unknown auto_pad %q", w.autoPad)
	}
	for _, s := range w.strides {
		if s <= 0 {
			return w, fmt.Errorf("strides %v must be positive", w.strides)
		}
	}
	for _, d := range w.dilations {
		if d <= 0 {
			return w, fmt.Errorf("dilations %v must be positive", w.dilations)
		}
	}
	return w, nil
}

// nnGeom is a resolved window over a concrete input: everything padded to
// three spatial dimensions (leading dimensions of size 1) so the loops are
// the same for 1-D, 2-D and 3-D operators.
type nnGeom struct {
	nd                       int    // original number of spatial dimensions
	in, out, k, s, d, pb, pe [3]int // input/output size, kernel, stride, dilation, pad begin/end
}

func (g *nnGeom) inVol() int  { return g.in[0] * g.in[1] * g.in[2] }
func (g *nnGeom) outVol() int { return g.out[0] * g.out[1] * g.out[2] }
func (g *nnGeom) kVol() int   { return g.k[0] * g.k[1] * g.k[2] }

// outShape returns the spatial output dimensions in their original rank.
func (g *nnGeom) outShape() []int { return append([]int(nil), g.out[3-g.nd:]...) }

// resolve computes the output size and effective pads for spatial input
// dims in with kernel k.
func (w *nnWindow) resolve(in, k []int) (nnGeom, error) {
	nd := len(in)
	var g nnGeom
	if nd < 1 || nd > 3 {
		return g, fmt.Errorf("%d spatial dimensions not supported (1 to 3)", nd)
	}
	if len(k) != nd {
		return g, fmt.Errorf("kernel shape %v does not match %d spatial dimensions", k, nd)
	}
	get := func(v []int, i, def int, name string) (int, error) {
		if v == nil {
			return def, nil
		}
		if len(v) != nd {
			return 0, fmt.Errorf("%s %v: want %d values", name, v, nd)
		}
		return v[i], nil
	}
	if w.pads != nil && len(w.pads) != 2*nd {
		return g, fmt.Errorf("pads %v: want %d values", w.pads, 2*nd)
	}
	g.nd = nd
	for i := range 3 {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	for i := range nd {
		j := 3 - nd + i
		var err error
		g.in[j] = in[i]
		g.k[j] = k[i]
		if g.s[j], err = get(w.strides, i, 1, "strides"); err != nil {
			return g, err
		}
		if g.d[j], err = get(w.dilations, i, 1, "dilations"); err != nil {
			return g, err
		}
		ext := (g.k[j]-1)*g.d[j] + 1
		switch w.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			g.out[j] = (g.in[j] + g.s[j] - 1) / g.s[j]
			total := max(0, (g.out[j]-1)*g.s[j]+ext-g.in[j])
			if w.autoPad == "SAME_UPPER" {
				g.pb[j] = total / 2
			} else {
				g.pb[j] = (total + 1) / 2
			}
			g.pe[j] = total - g.pb[j]
		case "VALID":
			g.out[j] = (g.in[j]-ext)/g.s[j] + 1
			if g.in[j] < ext {
				g.out[j] = 0
			}
		default:
			if w.pads != nil {
				g.pb[j], g.pe[j] = w.pads[i], w.pads[nd+i]
			}
			span := g.in[j] + g.pb[j] + g.pe[j] - ext
			if span < 0 {
				return g, fmt.Errorf("kernel extent %d larger than padded input %d", ext, g.in[j]+g.pb[j]+g.pe[j])
			}
			if w.ceil {
				g.out[j] = (span+g.s[j]-1)/g.s[j] + 1
				// The last window must start inside the input or its
				// leading pad, as in ONNX Runtime and PyTorch.
				if (g.out[j]-1)*g.s[j] >= g.in[j]+g.pb[j] {
					g.out[j]--
				}
			} else {
				g.out[j] = span/g.s[j] + 1
			}
		}
	}
	return g, nil
}
