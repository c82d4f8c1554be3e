package dataset

import (
	"fmt"
	"image"
	_ "image/jpeg" // register the decoders image.Decode uses
	_ "image/png"
	"io"
	"math"
	"os"

	"github.com/ptq-dev/ptq/tensor"
)

// imageSource decodes one image per sample, resizes it bilinearly and lays
// it out as the model's single input wants: float32 pixels scaled by
// PixelScale and normalised by Mean/Std, or raw uint8 pixels.
type imageSource struct {
	files    []string
	name     string
	dtype    tensor.DType
	nhwc     bool
	bgr      bool
	channels int
	h, w     int // 0: each image's own size
	scale    float32
	mean     []float32
	std      []float32
	i        int
}

func newImageSource(files []string, inputs []Input, opts Options) (source, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("dataset: images feed a single-input model; this one has %d inputs (%s)", len(inputs), inputNames(inputs))
	}
	in := inputs[0]
	s := &imageSource{files: files, name: in.Name, dtype: in.DType, bgr: opts.Channels == "bgr", channels: 3,
		h: opts.ImageSize[0], w: opts.ImageSize[1], scale: opts.PixelScale}
	if s.dtype == tensor.Undefined {
		s.dtype = tensor.Float
	}
	if s.dtype != tensor.Float && s.dtype != tensor.Uint8 {
		return nil, fmt.Errorf("dataset: images feed float32 or uint8 inputs; input %q is %v", in.Name, in.DType)
	}
	if s.scale == 0 {
		s.scale = 1.0 / 255
	}
	shape := in.Shape
	if shape != nil && len(shape) != 4 && len(shape) != 3 {
		return nil, fmt.Errorf("dataset: images feed a rank-4 (or rank-3) input; input %q has shape %s", in.Name, fmtShape(shape))
	}
	spatial := shape
	if len(shape) == 4 {
		spatial = shape[1:]
	}
	isCh := func(d int64) bool { return d == 1 || d == 3 }
	switch opts.Layout {
	case "nhwc":
		s.nhwc = true
	case "nchw":
	default:
		// The axis of size 3 is the channel axis; failing that, of size 1.
		s.nhwc = spatial != nil && spatial[0] != 3 && (spatial[2] == 3 || !isCh(spatial[0]) && spatial[2] == 1)
	}
	if spatial != nil {
		c, hh, ww := spatial[0], spatial[1], spatial[2]
		if s.nhwc {
			hh, ww, c = spatial[0], spatial[1], spatial[2]
		}
		if c > 0 {
			if !isCh(c) {
				return nil, fmt.Errorf("dataset: input %q has %d channels; images give 1 or 3 (is the layout right? use --layout)", in.Name, c)
			}
			s.channels = int(c)
		}
		if s.h == 0 && hh > 0 && ww > 0 {
			s.h, s.w = int(hh), int(ww)
		}
	}
	if (s.h == 0) != (s.w == 0) {
		return nil, fmt.Errorf("dataset: image size %dx%d: give both height and width", s.h, s.w)
	}
	var err error
	if s.mean, err = perChannel(opts.Mean, s.channels, 0, "mean"); err != nil {
		return nil, err
	}
	if s.std, err = perChannel(opts.Std, s.channels, 1, "std"); err != nil {
		return nil, err
	}
	for _, v := range s.std {
		if v == 0 {
			return nil, fmt.Errorf("dataset: std %v has a zero", opts.Std)
		}
	}
	return s, nil
}

func perChannel(v []float32, c int, def float32, what string) ([]float32, error) {
	out := make([]float32, c)
	switch len(v) {
	case 0:
		for i := range out {
			out[i] = def
		}
	case 1:
		for i := range out {
			out[i] = v[0]
		}
	case c:
		copy(out, v)
	default:
		return nil, fmt.Errorf("dataset: %s has %d values; the input has %d channels", what, len(v), c)
	}
	return out, nil
}

func (s *imageSource) len() int     { return len(s.files) }
func (s *imageSource) close() error { return nil }

func (s *imageSource) next() (*sample, error) {
	if s.i >= len(s.files) {
		return nil, io.EOF
	}
	path := s.files[s.i]
	s.i++
	img, err := decodeImage(path)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	h, w := s.h, s.w
	if h == 0 {
		h, w = b.Dy(), b.Dx()
	}
	rgb := resizeBilinear(toRGB(img), b.Dy(), b.Dx(), h, w)
	C := s.channels
	shape := []int{C, h, w}
	if s.nhwc {
		shape = []int{h, w, C}
	}
	t := tensor.New(s.dtype, shape...)
	for y := range h {
		for x := range w {
			px := rgb[(y*w+x)*3:][:3]
			for c := range C {
				var v float32
				if C == 1 {
					// ITU-R BT.601 luma, as PIL's convert("L").
					v = 0.299*px[0] + 0.587*px[1] + 0.114*px[2]
				} else if s.bgr {
					v = px[2-c]
				} else {
					v = px[c]
				}
				idx := (c*h+y)*w + x
				if s.nhwc {
					idx = (y*w+x)*C + c
				}
				if s.dtype == tensor.Uint8 {
					t.Data.([]uint8)[idx] = uint8(math.Round(math.Max(0, math.Min(255, float64(v)))))
				} else {
					t.Data.([]float32)[idx] = (v*s.scale - s.mean[c]) / s.std[c]
				}
			}
		}
	}
	return &sample{tensors: map[string]*tensor.Tensor{s.name: t}, where: path}, nil
}

func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return img, nil
}

// toRGB returns the pixels as interleaved R, G, B values in [0, 255].
func toRGB(img image.Image) []float32 {
	b := img.Bounds()
	out := make([]float32, b.Dx()*b.Dy()*3)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			out[i], out[i+1], out[i+2] = float32(r>>8), float32(g>>8), float32(bb>>8)
			i += 3
		}
	}
	return out
}

// resizeBilinear resizes interleaved RGB with half-pixel centres (as
// OpenCV's INTER_LINEAR and PIL's bilinear without antialiasing).
func resizeBilinear(src []float32, sh, sw, dh, dw int) []float32 {
	if sh == dh && sw == dw {
		return src
	}
	out := make([]float32, dh*dw*3)
	coord := func(d, sn, dn int) (int, int, float32) {
		f := (float32(d)+0.5)*float32(sn)/float32(dn) - 0.5
		if f < 0 {
			f = 0
		}
		i0 := int(f)
		if i0 > sn-1 {
			i0 = sn - 1
		}
		i1 := min(i0+1, sn-1)
		return i0, i1, f - float32(i0)
	}
	for y := range dh {
		y0, y1, fy := coord(y, sh, dh)
		for x := range dw {
			x0, x1, fx := coord(x, sw, dw)
			for c := range 3 {
				p00 := src[(y0*sw+x0)*3+c]
				p01 := src[(y0*sw+x1)*3+c]
				p10 := src[(y1*sw+x0)*3+c]
				p11 := src[(y1*sw+x1)*3+c]
				top := p00 + (p01-p00)*fx
				bot := p10 + (p11-p10)*fx
				out[(y*dw+x)*3+c] = top + (bot-top)*fy
			}
		}
	}
	return out
}
