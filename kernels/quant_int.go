package kernels

import (
	"fmt"
	"slices"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv: products of
// zero-point-shifted integers accumulated in int32, then (for the QLinear
// forms) requantized with the combined scale. These are plain loops; they
// are the reference that any faster integer kernel is checked against.

func init() {
	register("MatMulInteger", 10, func(*graph.Node, int) (Op, error) { return OpFunc(matMulInteger), nil })
	register("QLinearMatMul", 10, func(*graph.Node, int) (Op, error) { return OpFunc(qlinearMatMul), nil })
	register("ConvInteger", 10, buildConvInteger)
	register("QLinearConv", 10, buildQLinearConv)
}

// qVector reads an optional per-tensor or per-index parameter (zero point or
// scale) that must hold 1 or n values, and returns it expanded to n.
func qVector[T any](v []T, n int, def T, what string) ([]T, error) {
	out := make([]T, n)
	switch {
	case v == nil:
		for i := range out {
			out[i] = def
		}
	case len(v) == 1:
		for i := range out {
			out[i] = v[0]
		}
	case len(v) == n:
		copy(out, v)
	default:
		return nil, fmt.Errorf("%s: %d values, want 1 or %d", what, len(v), n)
	}
	return out, nil
}

func qOptInts(t *tensor.Tensor, what string) ([]int32, error) {
	if t == nil {
		return nil, nil
	}
	return qInts(t, what)
}

// qMatMulResult is an int32 matrix product with numpy's matmul broadcasting.
type qMatMulResult struct {
	acc   []int32
	shape []int
	m, n  int
}

// qMatMul computes (a - azp[row]) · (b - bzp[col]) for every broadcast batch.
// azp has m values and bzp n values (expanded by the caller).
func qMatMul(ctx *Context, a *tensor.Tensor, av []int32, b *tensor.Tensor, bv []int32, azpIn, bzpIn []int32) (*qMatMulResult, error) {
	as, bs := append([]int(nil), a.Shape...), append([]int(nil), b.Shape...)
	if len(as) == 0 || len(bs) == 0 {
		return nil, fmt.Errorf("matmul of a scalar: A %v, B %v", a.Shape, b.Shape)
	}
	dropM, dropN := len(as) == 1, len(bs) == 1
	if dropM {
		as = []int{1, as[0]}
	}
	if dropN {
		bs = []int{bs[0], 1}
	}
	m, k := as[len(as)-2], as[len(as)-1]
	k2, n := bs[len(bs)-2], bs[len(bs)-1]
	if k != k2 {
		return nil, fmt.Errorf("A %v and B %v: inner dimensions %d and %d differ", a.Shape, b.Shape, k, k2)
	}
	azp, err := qVector(azpIn, m, 0, "a_zero_point")
	if err != nil {
		return nil, err
	}
	bzp, err := qVector(bzpIn, n, 0, "b_zero_point")
	if err != nil {
		return nil, err
	}
	aB, bB := as[:len(as)-2], bs[:len(bs)-2]
	outB, err := bcastShape(aB, bB)
	if err != nil {
		return nil, fmt.Errorf("A %v and B %v: batch dimensions: %w", a.Shape, b.Shape, err)
	}
	ia, ib := bcastIndex(aB, outB), bcastIndex(bB, outB)
	nb := tensor.NumElements(outB)
	// B shifted by its zero points; rows of B are walked contiguously while
	// four rows of A accumulate at once.
	nbB := tensor.NumElements(bB)
	bsh := make([]int32, nbB*k*n)
	for p := range nbB {
		for kk := range k {
			src := bv[(p*k+kk)*n:][:n]
			dst := bsh[(p*k+kk)*n:][:n]
			for j, v := range src {
				dst[j] = v - bzp[j]
			}
		}
	}
	acc := make([]int32, nb*m*n)
	blocks := (m + 3) / 4
	ctx.Parallel(nb*blocks, 1, func(lo, hi int) {
		var ash [4][]int32
		for i := range ash {
			ash[i] = make([]int32, k)
		}
		for job := lo; job < hi; job++ {
			p, i0 := job/blocks, (job%blocks)*4
			rows := min(4, m-i0)
			for r := range rows {
				src := av[(ia[p]*m+i0+r)*k:][:k]
				for kk, v := range src {
					ash[r][kk] = v - azp[i0+r]
				}
			}
			b := bsh[ib[p]*k*n:][:k*n]
			out := acc[(p*m+i0)*n:]
			if rows == 4 {
				o0, o1, o2, o3 := out[:n], out[n:2*n], out[2*n:3*n], out[3*n:4*n]
				for kk := range k {
					a0, a1, a2, a3 := ash[0][kk], ash[1][kk], ash[2][kk], ash[3][kk]
					for j, v := range b[kk*n:][:n] {
						o0[j] += a0 * v
						o1[j] += a1 * v
						o2[j] += a2 * v
						o3[j] += a3 * v
					}
				}
				continue
			}
			for r := range rows {
				o := out[r*n:][:n]
				for kk, a := range ash[r] {
					for j, v := range b[kk*n:][:n] {
						o[j] += a * v
					}
				}
			}
		}
	})
	shape := append([]int(nil), outB...)
	if !dropM {
		shape = append(shape, m)
	}
	if !dropN {
		shape = append(shape, n)
	}
	return &qMatMulResult{acc: acc, shape: shape, m: m, n: n}, nil
}

func matMulInteger(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	a, b := optIn(in, 0), optIn(in, 1)
	av, err := qInts(a, "A")
	if err != nil {
		return nil, err
	}
	bv, err := qInts(b, "B")
	if err != nil {
		return nil, err
	}
	azp, err := qOptInts(optIn(in, 2), "a_zero_point")
	if err != nil {
		return nil, err
	}
	bzp, err := qOptInts(optIn(in, 3), "b_zero_point")
	if err != nil {
		return nil, err
	}
	r, err := qMatMul(ctx, a, av, b, bv, azp, bzp)
	if err != nil {
		return nil, err
	}
	t := ctx.NewTensor(tensor.Int32, r.shape...)
	copy(t.Data.([]int32), r.acc)
	return []*tensor.Tensor{t}, nil
}

// qRequant turns int32 accumulators into the output type with
// real multiplier sa[row]*sb[col]/sy, rounding half to even.
func qRequant(ctx *Context, acc []int32, shape []int, m, n int, sa, sb []float32, sy float32, yzp int32, dt tensor.DType) (*tensor.Tensor, error) {
	lo, hi, ok := qRange(dt)
	if !ok || dt == tensor.Int32 {
		return nil, fmt.Errorf("output type %v not supported", dt)
	}
	q := make([]int32, len(acc))
	for i, v := range acc {
		r := (i / n) % m
		c := i % n
		q[i] = qRound(float32(v)*(sa[r]*sb[c]/sy), yzp, lo, hi)
	}
	return qFromInts(ctx, dt, shape, q), nil
}

func qlinearMatMul(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	a, b := optIn(in, 0), optIn(in, 3)
	av, err := qInts(a, "a")
	if err != nil {
		return nil, err
	}
	bv, err := qInts(b, "b")
	if err != nil {
		return nil, err
	}
	azp, err := qOptInts(optIn(in, 2), "a_zero_point")
	if err != nil {
		return nil, err
	}
	bzp, err := qOptInts(optIn(in, 5), "b_zero_point")
	if err != nil {
		return nil, err
	}
	r, err := qMatMul(ctx, a, av, b, bv, azp, bzp)
	if err != nil {
		return nil, err
	}
	sa, err := qFloats(optIn(in, 1), "a_scale")
	if err != nil {
		return nil, err
	}
	sb, err := qFloats(optIn(in, 4), "b_scale")
	if err != nil {
		return nil, err
	}
	if sa, err = qVector(sa, r.m, 0, "a_scale"); err != nil {
		return nil, err
	}
	if sb, err = qVector(sb, r.n, 0, "b_scale"); err != nil {
		return nil, err
	}
	sy, err := qFloats(optIn(in, 6), "y_scale")
	if err != nil {
		return nil, err
	}
	if len(sy) != 1 {
		return nil, fmt.Errorf("y_scale: want a scalar, got %d values", len(sy))
	}
	dt, yzp, err := qOutZP(optIn(in, 7), a.DType)
	if err != nil {
		return nil, err
	}
	t, err := qRequant(ctx, r.acc, r.shape, r.m, r.n, sa, sb, sy[0], yzp, dt)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{t}, nil
}

// qOutZP returns the output type and zero point given by an optional scalar
// zero-point input, defaulting to def and 0.
func qOutZP(zp *tensor.Tensor, def tensor.DType) (tensor.DType, int32, error) {
	if zp == nil {
		return def, 0, nil
	}
	v, err := qInts(zp, "y_zero_point")
	if err != nil {
		return 0, 0, err
	}
	if len(v) != 1 {
		return 0, 0, fmt.Errorf("y_zero_point: want a scalar, got %d values", len(v))
	}
	return zp.DType, v[0], nil
}

// qConvOp is the geometry shared by ConvInteger and QLinearConv.
type qConvOp struct {
	win    nnWindow
	group  int
	direct bool // use the one-output-at-a-time reference loop
}

func parseQConv(n *graph.Node) (*qConvOp, error) {
	w, err := nnParseWindow(n)
	if err != nil {
		return nil, err
	}
	g := int(n.AttrInt("group", 1))
	if g < 1 {
		return nil, fmt.Errorf("group %d must be positive", g)
	}
	return &qConvOp{win: w, group: g}, nil
}

// conv computes the int32 convolution of (x - xzp) with (w - wzp[m]),
// the padding contributing zero (x's zero point, shifted).
func (op *qConvOp) conv(ctx *Context, x, w *tensor.Tensor, xzp int32, wzpIn []int32) ([]int32, []int, error) {
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, nil, fmt.Errorf("x %v and w %v: want equal ranks of at least 3", x.Shape, w.Shape)
	}
	xv, err := qInts(x, "x")
	if err != nil {
		return nil, nil, err
	}
	wv, err := qInts(w, "w")
	if err != nil {
		return nil, nil, err
	}
	N, C := x.Shape[0], x.Shape[1]
	M, Cg := w.Shape[0], w.Shape[1]
	G := op.group
	if C != Cg*G || M%G != 0 {
		return nil, nil, fmt.Errorf("x %v, w %v, group %d: channels do not match", x.Shape, w.Shape, G)
	}
	if op.win.kernel != nil && !slices.Equal(op.win.kernel, w.Shape[2:]) {
		return nil, nil, fmt.Errorf("kernel_shape %v does not match w %v", op.win.kernel, w.Shape)
	}
	geo, err := op.win.resolve(x.Shape[2:], w.Shape[2:])
	if err != nil {
		return nil, nil, err
	}
	wzp, err := qVector(wzpIn, M, 0, "w_zero_point")
	if err != nil {
		return nil, nil, err
	}
	outVol, kVol := geo.outVol(), geo.kVol()
	ws := make([]int32, len(wv))
	for m := range M {
		for i := range Cg * kVol {
			ws[m*Cg*kVol+i] = wv[m*Cg*kVol+i] - wzp[m]
		}
	}
	out := make([]int32, N*M*outVol)
	if op.direct {
		qConvDirect(ctx, xv, ws, out, &geo, N, C, M, Cg, G, xzp)
	} else {
		qConvIm2col(ctx, xv, ws, out, &geo, N, C, M, Cg, G, xzp)
	}
	shape := append([]int{N, M}, geo.outShape()...)
	return out, shape, nil
}

// qConvDirect is the reference convolution: one output at a time.
func qConvDirect(ctx *Context, xv, ws, out []int32, geo *nnGeom, N, C, M, Cg, G int, xzp int32) {
	inVol, outVol, kVol := geo.inVol(), geo.outVol(), geo.kVol()
	Mg := M / G
	ctx.Parallel(N*M, 1, func(lo, hi int) {
		for nm := lo; nm < hi; nm++ {
			nn, m := nm/M, nm%M
			g := m / Mg
			dst := out[nm*outVol:][:outVol]
			for od := range geo.out[0] {
				for oh := range geo.out[1] {
					for ow := range geo.out[2] {
						var acc int32
						for c := range Cg {
							xc := xv[(nn*C+g*Cg+c)*inVol:][:inVol]
							wc := ws[(m*Cg+c)*kVol:][:kVol]
							for kd := range geo.k[0] {
								id := od*geo.s[0] - geo.pb[0] + kd*geo.d[0]
								if id < 0 || id >= geo.in[0] {
									continue
								}
								for kh := range geo.k[1] {
									ih := oh*geo.s[1] - geo.pb[1] + kh*geo.d[1]
									if ih < 0 || ih >= geo.in[1] {
										continue
									}
									for kw := range geo.k[2] {
										iw := ow*geo.s[2] - geo.pb[2] + kw*geo.d[2]
										if iw < 0 || iw >= geo.in[2] {
											continue
										}
										xi := xc[(id*geo.in[1]+ih)*geo.in[2]+iw] - xzp
										acc += xi * wc[(kd*geo.k[1]+kh)*geo.k[2]+kw]
									}
								}
							}
						}
						dst[(od*geo.out[1]+oh)*geo.out[2]+ow] = acc
					}
				}
			}
		}
	})
}

// qConvTile is how many output positions one im2col tile holds.
const qConvTile = 256

// qConvIm2col gathers a tile of output positions' input windows into
// columns (zero-point shifted, padding 0) and multiplies the weights into
// them, four output channels at a time. Tiles are independent, so they are
// what runs in parallel.
func qConvIm2col(ctx *Context, xv, ws, out []int32, geo *nnGeom, N, C, M, Cg, G int, xzp int32) {
	inVol, outVol, kVol := geo.inVol(), geo.outVol(), geo.kVol()
	Mg := M / G
	K := Cg * kVol
	tiles := (outVol + qConvTile - 1) / qConvTile
	ctx.Parallel(N*G*tiles, 1, func(lo, hi int) {
		col := make([]int32, K*qConvTile)
		var bd, bh, bw [qConvTile]int
		for job := lo; job < hi; job++ {
			tile := job % tiles
			g := (job / tiles) % G
			nn := job / (tiles * G)
			p0 := tile * qConvTile
			tw := min(qConvTile, outVol-p0)
			for j := range tw {
				p := p0 + j
				ow := p % geo.out[2]
				oh := (p / geo.out[2]) % geo.out[1]
				od := p / (geo.out[2] * geo.out[1])
				bd[j] = od*geo.s[0] - geo.pb[0]
				bh[j] = oh*geo.s[1] - geo.pb[1]
				bw[j] = ow*geo.s[2] - geo.pb[2]
			}
			row := 0
			for c := range Cg {
				xc := xv[(nn*C+g*Cg+c)*inVol:][:inVol]
				for kd := range geo.k[0] {
					for kh := range geo.k[1] {
						for kw := range geo.k[2] {
							dst := col[row*tw:][:tw]
							row++
							for j := range tw {
								id := bd[j] + kd*geo.d[0]
								ih := bh[j] + kh*geo.d[1]
								iw := bw[j] + kw*geo.d[2]
								if uint(id) < uint(geo.in[0]) && uint(ih) < uint(geo.in[1]) && uint(iw) < uint(geo.in[2]) {
									dst[j] = xc[(id*geo.in[1]+ih)*geo.in[2]+iw] - xzp
								} else {
									dst[j] = 0
								}
							}
						}
					}
				}
			}
			m := g * Mg
			for ; m+4 <= (g+1)*Mg; m += 4 {
				w0, w1, w2, w3 := ws[m*K:][:K], ws[(m+1)*K:][:K], ws[(m+2)*K:][:K], ws[(m+3)*K:][:K]
				o0 := out[(nn*M+m)*outVol+p0:][:tw]
				o1 := out[(nn*M+m+1)*outVol+p0:][:tw]
				o2 := out[(nn*M+m+2)*outVol+p0:][:tw]
				o3 := out[(nn*M+m+3)*outVol+p0:][:tw]
				for k := range K {
					a0, a1, a2, a3 := w0[k], w1[k], w2[k], w3[k]
					cr := col[k*tw:][:tw]
					for j, v := range cr {
						o0[j] += a0 * v
						o1[j] += a1 * v
						o2[j] += a2 * v
						o3[j] += a3 * v
					}
				}
			}
			for ; m < (g+1)*Mg; m++ {
				wm := ws[m*K:][:K]
				om := out[(nn*M+m)*outVol+p0:][:tw]
				for k, a := range wm {
					cr := col[k*tw:][:tw]
					for j, v := range cr {
						om[j] += a * v
					}
				}
			}
		}
	})
}

func qScalarZP(t *tensor.Tensor, what string) (int32, error) {
	if t == nil {
		return 0, nil
	}
	v, err := qInts(t, what)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s: want a scalar, got %d values", what, len(v))
	}
	return v[0], nil
}

func buildConvInteger(n *graph.Node, opset int) (Op, error) {
	op, err := parseQConv(n)
	if err != nil {
		return nil, err
	}
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		xzp, err := qScalarZP(optIn(in, 2), "x_zero_point")
		if err != nil {
			return nil, err
		}
		wzp, err := qOptInts(optIn(in, 3), "w_zero_point")
		if err != nil {
			return nil, err
		}
		x, w := optIn(in, 0), optIn(in, 1)
		if x == nil || w == nil {
			return nil, fmt.Errorf("x and w are required")
		}
		acc, shape, err := op.conv(ctx, x, w, xzp, wzp)
		if err != nil {
			return nil, err
		}
		t := ctx.NewTensor(tensor.Int32, shape...)
		copy(t.Data.([]int32), acc)
		return []*tensor.Tensor{t}, nil
	}), nil
}

func buildQLinearConv(n *graph.Node, opset int) (Op, error) {
	op, err := parseQConv(n)
	if err != nil {
		return nil, err
	}
	return OpFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, w := optIn(in, 0), optIn(in, 3)
		if x == nil || w == nil {
			return nil, fmt.Errorf("x and w are required")
		}
		xzp, err := qScalarZP(optIn(in, 2), "x_zero_point")
		if err != nil {
			return nil, err
		}
		wzp, err := qOptInts(optIn(in, 5), "w_zero_point")
		if err != nil {
			return nil, err
		}
		acc, shape, err := op.conv(ctx, x, w, xzp, wzp)
		if err != nil {
			return nil, err
		}
		M := shape[1]
		sx, err := qFloats(optIn(in, 1), "x_scale")
		if err != nil {
			return nil, err
		}
		sw, err := qFloats(optIn(in, 4), "w_scale")
		if err != nil {
			return nil, err
		}
		if sw, err = qVector(sw, M, 0, "w_scale"); err != nil {
			return nil, err
		}
		sy, err := qFloats(optIn(in, 6), "y_scale")
		if err != nil {
			return nil, err
		}
		if len(sx) != 1 || len(sy) != 1 {
			return nil, fmt.Errorf("x_scale and y_scale must be scalars")
		}
		dt, yzp, err := qOutZP(optIn(in, 7), x.DType)
		if err != nil {
			return nil, err
		}
		if b := optIn(in, 8); b != nil {
			bv, err := qInts(b, "B")
			if err != nil {
				return nil, err
			}
			if len(bv) != M {
				return nil, fmt.Errorf("B %v: want [%d]", b.Shape, M)
			}
			vol := len(acc) / (shape[0] * M)
			for i := range acc {
				acc[i] += bv[(i/vol)%M]
			}
		}
		// Rows are output channels, each with multiplier x_scale*w_scale[m]/y_scale.
		vol := len(acc) / (shape[0] * M)
		sa := make([]float32, M)
		for m := range M {
			sa[m] = sx[0] * sw[m]
		}
		q, err := qRequant(ctx, acc, shape, M, vol, sa, repeatF32(1, vol), sy[0], yzp, dt)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{q}, nil
	}), nil
}

func repeatF32(v float32, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}
