package kernels

import (
	"fmt"
	"math"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func init() {
	register("AveragePool", 1, buildPool("AveragePool"))
	register("MaxPool", 1, buildPool("MaxPool"))
	register("LpPool", 1, buildPool("LpPool"))
	register("GlobalAveragePool", 1, buildGlobalPool("GlobalAveragePool"))
	register("GlobalMaxPool", 1, buildGlobalPool("GlobalMaxPool"))
	register("GlobalLpPool", 1, buildGlobalPool("GlobalLpPool"))
}

type poolOp struct {
	kind         string
	win          nnWindow
	includePad   bool
	storageOrder int
	p            float64
	wantIdx      bool // MaxPool's Indices output is used
}

func buildPool(kind string) Builder {
	return func(n *graph.Node, opset int) (Op, error) {
		w, err := nnParseWindow(n)
		if err != nil {
			return nil, err
		}
		if w.kernel == nil {
			return nil, fmt.Errorf("%s: kernel_shape is required", kind)
		}
		o := &poolOp{
			kind:         kind,
			win:          w,
			includePad:   n.AttrInt("count_include_pad", 0) != 0,
			storageOrder: int(n.AttrInt("storage_order", 0)),
			p:            float64(n.AttrInt("p", 2)),
			wantIdx:      len(n.Outputs) > 1 && n.Outputs[1] != nil,
		}
		if kind == "LpPool" && opset < 2 {
			o.p = float64(n.AttrFloat("p", 2))
		}
		return o, nil
	}
}

// nnOrdered is what MaxPool accepts (opset 12 added int8 and uint8).
type nnOrdered interface {
	~float32 | ~float64 | ~int8 | ~uint8
}

// nnTapRange is, per output index along one axis, the range [lo, hi) of
// kernel taps that land inside the input, and cnt, the taps that land inside
// the padded input (the divisor of count_include_pad).
type nnTapRange struct{ lo, hi, cnt []int }

func nnTaps(in, out, k, s, d, pb, pe int) nnTapRange {
	r := nnTapRange{make([]int, out), make([]int, out), make([]int, out)}
	for o := range out {
		start := o*s - pb
		lo, hi, cnt := k, 0, 0
		for t := range k {
			i := start + t*d
			if i >= 0 && i < in {
				lo, hi = min(lo, t), t+1
			}
			if i < in+pe {
				cnt++
			}
		}
		if lo > hi {
			lo = hi
		}
		r.lo[o], r.hi[o], r.cnt[o] = lo, hi, cnt
	}
	return r
}

func (o *poolOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("%s: missing input", o.kind)
	}
	x := in[0]
	if x.Rank() < 3 {
		return nil, fmt.Errorf("%s: X %v must have rank >= 3", o.kind, x.Shape)
	}
	geo, err := o.win.resolve(x.Shape[2:], o.win.kernel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.kind, err)
	}
	if o.kind == "MaxPool" {
		switch x.DType {
		case tensor.Float:
			return maxPoolRun[float32](o, ctx, x, &geo, float32(math.Inf(-1)))
		case tensor.Double:
			return maxPoolRun[float64](o, ctx, x, &geo, math.Inf(-1))
		case tensor.Int8:
			return maxPoolRun[int8](o, ctx, x, &geo, math.MinInt8)
		case tensor.Uint8:
			return maxPoolRun[uint8](o, ctx, x, &geo, 0)
		}
		return nil, fmt.Errorf("MaxPool: unsupported element type %v", x.DType)
	}
	if err := nnCheckFloat(x, o.kind+" X"); err != nil {
		return nil, err
	}
	if x.DType == tensor.Double {
		return avgPoolRun[float64](o, ctx, x, &geo)
	}
	return avgPoolRun[float32](o, ctx, x, &geo)
}

func poolTaps(g *nnGeom) [3]nnTapRange {
	var t [3]nnTapRange
	for a := range 3 {
		t[a] = nnTaps(g.in[a], g.out[a], g.k[a], g.s[a], g.d[a], g.pb[a], g.pe[a])
	}
	return t
}

func maxPoolRun[T nnOrdered](o *poolOp, ctx *Context, x *tensor.Tensor, g *nnGeom, lowest T) ([]*tensor.Tensor, error) {
	xd := x.Data.([]T)
	planes := x.Shape[0] * x.Shape[1]
	y := ctx.NewTensor(x.DType, append([]int{x.Shape[0], x.Shape[1]}, g.outShape()...)...)
	yd := y.Data.([]T)
	inVol, outVol := g.inVol(), g.outVol()
	if g.in[0] == 1 && g.out[0] == 1 && g.k[0] == 1 && !o.wantIdx {
		ctx.Parallel(planes, 1, func(lo, hi int) {
			if xf, ok := any(xd).([]float32); ok {
				yf := any(yd).([]float32)
				var buf []float32
				for p := lo; p < hi; p++ {
					buf = maxPool2DF32(xf[p*inVol:(p+1)*inVol], yf[p*outVol:(p+1)*outVol], g, buf)
				}
				return
			}
			for p := lo; p < hi; p++ {
				maxPool2D(xd[p*inVol:(p+1)*inVol], yd[p*outVol:(p+1)*outVol], g, lowest)
			}
		})
		return []*tensor.Tensor{y, nil}, nil
	}
	ind := ctx.NewTensor(tensor.Int64, y.Shape...)
	id := ind.Int64()
	taps := poolTaps(g)
	colMajor := o.storageOrder == 1
	ctx.Parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp := xd[p*inVol : (p+1)*inVol]
			yi := p * outVol
			for o0 := range g.out[0] {
				for o1 := range g.out[1] {
					for o2 := range g.out[2] {
						best, bi := lowest, -1
						for k0 := taps[0].lo[o0]; k0 < taps[0].hi[o0]; k0++ {
							i0 := o0*g.s[0] - g.pb[0] + k0*g.d[0]
							for k1 := taps[1].lo[o1]; k1 < taps[1].hi[o1]; k1++ {
								i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
								row := (i0*g.in[1] + i1) * g.in[2]
								for k2 := taps[2].lo[o2]; k2 < taps[2].hi[o2]; k2++ {
									i2 := o2*g.s[2] - g.pb[2] + k2*g.d[2]
									if v := xp[row+i2]; v > best || bi < 0 {
										best, bi = v, row+i2
									}
								}
							}
						}
						yd[yi] = best
						if bi >= 0 && colMajor {
							i2 := bi % g.in[2]
							i1 := (bi / g.in[2]) % g.in[1]
							i0 := bi / (g.in[1] * g.in[2])
							bi = i0 + g.in[0]*(i1+g.in[1]*i2)
						}
						id[yi] = int64(p*inVol + bi)
						yi++
					}
				}
			}
		}
	})
	return []*tensor.Tensor{y, ind}, nil
}

func avgPoolRun[T nnFloat](o *poolOp, ctx *Context, x *tensor.Tensor, g *nnGeom) ([]*tensor.Tensor, error) {
	xd := x.Data.([]T)
	planes := x.Shape[0] * x.Shape[1]
	y := ctx.NewTensor(x.DType, append([]int{x.Shape[0], x.Shape[1]}, g.outShape()...)...)
	yd := y.Data.([]T)
	inVol, outVol := g.inVol(), g.outVol()
	taps := poolTaps(g)
	lp := o.kind == "LpPool"
	if g.in[0] == 1 && g.out[0] == 1 && g.k[0] == 1 && !lp {
		// divisor per output position
		div := make([]T, outVol)
		for o1 := range g.out[1] {
			for o2 := range g.out[2] {
				n := (taps[1].hi[o1] - taps[1].lo[o1]) * (taps[2].hi[o2] - taps[2].lo[o2])
				if o.includePad {
					n = taps[1].cnt[o1] * taps[2].cnt[o2]
				}
				div[o1*g.out[2]+o2] = 1 / T(n)
			}
		}
		ctx.Parallel(planes, 1, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				yp := yd[p*outVol : (p+1)*outVol]
				sumPool2D(xd[p*inVol:(p+1)*inVol], yp, g)
				for i := range yp {
					yp[i] *= div[i]
				}
			}
		})
		return []*tensor.Tensor{y}, nil
	}
	ctx.Parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp := xd[p*inVol : (p+1)*inVol]
			yi := p * outVol
			for o0 := range g.out[0] {
				for o1 := range g.out[1] {
					for o2 := range g.out[2] {
						var s T
						for k0 := taps[0].lo[o0]; k0 < taps[0].hi[o0]; k0++ {
							i0 := o0*g.s[0] - g.pb[0] + k0*g.d[0]
							for k1 := taps[1].lo[o1]; k1 < taps[1].hi[o1]; k1++ {
								i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
								row := (i0*g.in[1] + i1) * g.in[2]
								for k2 := taps[2].lo[o2]; k2 < taps[2].hi[o2]; k2++ {
									v := xp[row+o2*g.s[2]-g.pb[2]+k2*g.d[2]]
									if lp {
										s += nnPowAbs(v, o.p)
									} else {
										s += v
									}
								}
							}
						}
						switch {
						case lp:
							yd[yi] = nnRoot(s, o.p)
						case o.includePad:
							yd[yi] = s / T(taps[0].cnt[o0]*taps[1].cnt[o1]*taps[2].cnt[o2])
						default:
							yd[yi] = s / T((taps[0].hi[o0]-taps[0].lo[o0])*(taps[1].hi[o1]-taps[1].lo[o1])*(taps[2].hi[o2]-taps[2].lo[o2]))
						}
						yi++
					}
				}
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

func nnPowAbs[T nnFloat](v T, p float64) T {
	switch p {
	case 1:
		if v < 0 {
			return -v
		}
		return v
	case 2:
		return v * v
	}
	return T(math.Pow(math.Abs(float64(v)), p))
}

func nnRoot[T nnFloat](s T, p float64) T {
	switch p {
	case 1:
		return s
	case 2:
		return T(math.Sqrt(float64(s)))
	}
	return T(math.Pow(float64(s), 1/p))
}

type globalPoolOp struct {
	kind string
	p    float64
}

func buildGlobalPool(kind string) Builder {
	return func(n *graph.Node, opset int) (Op, error) {
		o := &globalPoolOp{kind: kind, p: float64(n.AttrInt("p", 2))}
		if kind == "GlobalLpPool" && opset < 2 {
			o.p = float64(n.AttrFloat("p", 2))
		}
		return o, nil
	}
}

func (o *globalPoolOp) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("%s: missing input", o.kind)
	}
	if err := nnCheckFloat(in[0], o.kind+" X"); err != nil {
		return nil, err
	}
	if in[0].Rank() < 2 {
		return nil, fmt.Errorf("%s: X %v must have rank >= 2", o.kind, in[0].Shape)
	}
	if in[0].DType == tensor.Double {
		return globalPoolRun[float64](o, ctx, in[0])
	}
	return globalPoolRun[float32](o, ctx, in[0])
}

func globalPoolRun[T nnFloat](o *globalPoolOp, ctx *Context, x *tensor.Tensor) ([]*tensor.Tensor, error) {
	xd := x.Data.([]T)
	shape := append([]int(nil), x.Shape...)
	for i := 2; i < len(shape); i++ {
		shape[i] = 1
	}
	y := ctx.NewTensor(x.DType, shape...)
	yd := y.Data.([]T)
	planes := x.Shape[0] * x.Shape[1]
	vol := 1
	for _, d := range x.Shape[2:] {
		vol *= d
	}
	ctx.Parallel(planes, max(1, 16384/max(vol, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp := xd[p*vol : (p+1)*vol]
			switch o.kind {
			case "GlobalMaxPool":
				best := T(math.Inf(-1))
				for _, v := range xp {
					best = max(best, v)
				}
				yd[p] = best
			case "GlobalAveragePool":
				var s T
				for _, v := range xp {
					s += v
				}
				yd[p] = s / T(vol)
			default:
				var s T
				for _, v := range xp {
					s += nnPowAbs(v, o.p)
				}
				yd[p] = nnRoot(s, o.p)
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

// maxPool2D pools one plane tap by tap: for each kernel offset it takes the
// maximum over the whole valid output range of a row, a branch-light inner
// loop (the builtin max compiles to branch-free code).
func maxPool2D[T nnOrdered](x, y []T, g *nnGeom, lowest T) {
	for i := range y {
		y[i] = lowest
	}
	for o1 := range g.out[1] {
		dst := y[o1*g.out[2] : (o1+1)*g.out[2]]
		for k1 := range g.k[1] {
			i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
			if i1 < 0 || i1 >= g.in[1] {
				continue
			}
			src := x[i1*g.in[2] : (i1+1)*g.in[2]]
			for k2 := range g.k[2] {
				off := k2*g.d[2] - g.pb[2]
				lo, hi := nnValidRange(off, g.s[2], g.in[2], g.out[2])
				if g.s[2] == 1 {
					d := dst[lo:hi]
					for o2, v := range src[lo+off : hi+off] {
						d[o2] = max(d[o2], v)
					}
					continue
				}
				for o2 := lo; o2 < hi; o2++ {
					dst[o2] = max(dst[o2], src[o2*g.s[2]+off])
				}
			}
		}
	}
}

// maxPool2DF32 is maxPool2D for float32 with vector loops. buf is
// scratch, grown as needed and returned for the next plane.
func maxPool2DF32(x, y []float32, g *nnGeom, buf []float32) []float32 {
	if g.s[2] == 2 {
		return maxPool2DF32S2(x, y, g, buf)
	}
	lowest := float32(math.Inf(-1))
	for i := range y {
		y[i] = lowest
	}
	for o1 := range g.out[1] {
		dst := y[o1*g.out[2] : (o1+1)*g.out[2]]
		for k1 := range g.k[1] {
			i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
			if i1 < 0 || i1 >= g.in[1] {
				continue
			}
			src := x[i1*g.in[2] : (i1+1)*g.in[2]]
			for k2 := range g.k[2] {
				off := k2*g.d[2] - g.pb[2]
				lo, hi := nnValidRange(off, g.s[2], g.in[2], g.out[2])
				switch {
				case lo >= hi:
				case g.s[2] == 1:
					nnMax(dst[lo:hi], src[lo+off:hi+off])
				default:
					for o2 := lo; o2 < hi; o2++ {
						dst[o2] = max(dst[o2], src[o2*g.s[2]+off])
					}
				}
			}
		}
	}
	return buf
}

// maxPool2DF32S2 is maxPool2DF32 for stride 2 along rows (ResNet's stem).
// Each input row is split once into even and odd columns, where every tap
// is a contiguous run, and reduced along the row; output rows then take
// the maximum of the reduced rows their window covers. Gathering each
// tap's strided run for every output row instead read each input row
// k1·k2 times over.
func maxPool2DF32S2(x, y []float32, g *nnGeom, buf []float32) []float32 {
	inH, inW, outH, outW := g.in[1], g.in[2], g.out[1], g.out[2]
	if nnMaxH3s2 != nil && g.k == [3]int{1, 3, 3} && g.s[1] == 2 && g.d == [3]int{1, 1, 1} && g.pb == [3]int{0, 1, 1} && inW >= 3 {
		return maxPool3s2F32(x, y, g, buf)
	}
	half := (inW + 1) / 2
	need := 2*half + inH*outW
	if cap(buf) < need {
		buf = make([]float32, need)
	}
	buf = buf[:need]
	ev, od, rows := buf[:half], buf[half:2*half], buf[2*half:]
	lowest := float32(math.Inf(-1))
	for i1 := range inH {
		src := x[i1*inW : (i1+1)*inW]
		h := rows[i1*outW : (i1+1)*outW]
		nnDeinterleave(ev[:inW/2], od[:inW/2], src)
		if inW%2 == 1 {
			ev[inW/2] = src[inW-1]
		}
		for i := range h {
			h[i] = lowest
		}
		for k2 := range g.k[2] {
			off := k2*g.d[2] - g.pb[2]
			lo, hi := nnValidRange(off, 2, inW, outW)
			if lo >= hi {
				continue
			}
			// x[2·o2+off] is ev or od at o2+q, off = 2q+r
			q, r := off>>1, off&1
			run := ev
			if r == 1 {
				run = od
			}
			nnMax(h[lo:hi], run[lo+q:hi+q])
		}
	}
	for o1 := range outH {
		dst := y[o1*outW : (o1+1)*outW]
		for i := range dst {
			dst[i] = lowest
		}
		for k1 := range g.k[1] {
			i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
			if i1 >= 0 && i1 < inH {
				nnMax(dst, rows[i1*outW:(i1+1)*outW])
			}
		}
	}
	return buf
}

// maxPool3s2F32 is ResNet's 3×3, stride-2, pad-1 MaxPool: each output
// row takes the maximum of its (up to) three input rows, whole rows at a
// time, and then of three columns along that row in one vector pass.
func maxPool3s2F32(x, y []float32, g *nnGeom, buf []float32) []float32 {
	inH, inW, outH, outW := g.in[1], g.in[2], g.out[1], g.out[2]
	if cap(buf) < inW {
		buf = make([]float32, inW)
	}
	v := buf[:inW]
	for o1 := range outH {
		i0, i1 := max(2*o1-1, 0), min(2*o1+2, inH)
		h := y[o1*outW : (o1+1)*outW]
		if i0 >= i1 { // the window lies in the padding
			for i := range h {
				h[i] = float32(math.Inf(-1))
			}
			continue
		}
		copy(v, x[i0*inW:(i0+1)*inW])
		for i := i0 + 1; i < i1; i++ {
			nnMax(v, x[i*inW:(i+1)*inW])
		}
		h[0] = max(v[0], v[1])
		for o := nnMaxH3s2(h, v, 1); o < outW; o++ {
			m := float32(math.Inf(-1))
			for i := max(2*o-1, 0); i < min(2*o+2, inW); i++ {
				m = max(m, v[i])
			}
			h[o] = m
		}
	}
	return buf
}

// sumPool2D adds up each window of one plane, tap by tap.
func sumPool2D[T nnFloat](x, y []T, g *nnGeom) {
	clear(y)
	for o1 := range g.out[1] {
		dst := y[o1*g.out[2] : (o1+1)*g.out[2]]
		for k1 := range g.k[1] {
			i1 := o1*g.s[1] - g.pb[1] + k1*g.d[1]
			if i1 < 0 || i1 >= g.in[1] {
				continue
			}
			src := x[i1*g.in[2] : (i1+1)*g.in[2]]
			for k2 := range g.k[2] {
				off := k2*g.d[2] - g.pb[2]
				lo, hi := nnValidRange(off, g.s[2], g.in[2], g.out[2])
				if g.s[2] == 1 {
					for o2, v := range src[lo+off : hi+off] {
						dst[lo+o2] += v
					}
					continue
				}
				for o2 := lo; o2 < hi; o2++ {
					dst[o2] += src[o2*g.s[2]+off]
				}
			}
		}
	}
}
