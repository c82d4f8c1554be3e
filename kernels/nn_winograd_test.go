package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ptq-dev/ptq/tensor"
)

// TestWinogradMatchesReference runs the F(2×2, 3×3) convolution, with the
// portable and (where the CPU has them) the vector transforms, against the
// plain-loop reference: odd and even planes, tile counts around the
// 16-tile vector step, every padding, several blocks of tile rows, fused
// clamps and a post function, batches and threads.
func TestWinogradMatchesReference(t *testing.T) {
	cases := []struct {
		x, w []int
		pads []int
		act  nnAct
	}{
		{x: []int{1, 16, 8, 8}, w: []int{16, 16, 3, 3}, pads: []int{1, 1, 1, 1}},
		{x: []int{2, 17, 9, 7}, w: []int{19, 17, 3, 3}, pads: []int{1, 1, 1, 1}, act: nnAct{kind: nnActRelu}},
		{x: []int{1, 16, 8, 33}, w: []int{16, 16, 3, 3}, pads: []int{0, 0, 0, 0}},
		{x: []int{1, 20, 6, 64}, w: []int{24, 20, 3, 3}, pads: []int{2, 1, 0, 2}, act: nnAct{kind: nnActClip, lo: -0.5, hi: 0.5}},
		{x: []int{1, 16, 35, 30}, w: []int{32, 16, 3, 3}, pads: []int{1, 0, 1, 0}},
		{x: []int{1, 32, 14, 14}, w: []int{16, 32, 3, 3}, pads: []int{1, 1, 1, 1}},
		{x: []int{1, 64, 7, 7}, w: []int{64, 64, 3, 3}, pads: []int{1, 1, 1, 1}, act: nnAct{kind: nnActRelu}},
		// more tile rows than one block holds (winoBudget)
		{x: []int{1, 128, 40, 40}, w: []int{16, 128, 3, 3}, pads: []int{1, 1, 1, 1}},
	}
	funcs := map[string]*winoFuncs{"go2": winoGo, "go4": winoGo4}
	if winoFast != nil {
		funcs["vector2"] = winoFast
	}
	if winoFast4 != nil {
		funcs["vector4"] = winoFast4
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i, tc := range cases {
		x, w, b := nnRandTensor(r, tc.x...), nnRandTensor(r, tc.w...), nnRandTensor(r, tc.w[0])
		win := nnWindow{pads: tc.pads}
		ref := &convOp{win: win, group: 1, act: tc.act, ref: true}
		want, err := ref.Run(nil, []*tensor.Tensor{x, w, b})
		if err != nil {
			t.Fatal(err)
		}
		geo, nb, c, m, err := convShapes(&win, 1, x, w, b)
		if err != nil {
			t.Fatal(err)
		}
		if !winoUsable(&geo, 1, c, m) || winoTileCount(&geo, 2) < 16 {
			t.Fatalf("case %d: geometry not usable", i)
		}
		// the post function doubles what it is given and records where,
		// so a block missed or finished twice shows
		for name, f := range funcs {
			for _, threads := range []int{1, 2, 3} {
				t.Run(fmt.Sprintf("%d/%s/t%d", i, name, threads), func(t *testing.T) {
					op := &convOp{win: win, group: 1}
					got := tensor.New(tensor.Float, want[0].Shape...)
					seen := make([]int, got.Len())
					post := func(d []float32, ch, off int) {
						for j := range d {
							d[j] *= 2
							seen[off+j]++
						}
						if ch != (off/geo.outVol())%m {
							t.Errorf("post: channel %d for offset %d", ch, off)
						}
					}
					u := winoTransformWeights(w.Float32(), m, c, f.tile)
					op.convWinograd(&Context{Threads: threads}, f, x.Float32(), u, b.Float32(), got.Float32(), &geo, nb, c, m, tc.act, post)
					for j, n := range seen {
						if n != 1 {
							t.Fatalf("output %d finished %d times", j, n)
						}
					}
					w2 := want[0].Clone()
					for j := range w2.Float32() {
						w2.Float32()[j] *= 2
					}
					// Winograd rounds differently from the direct sum: the error scales
					// with the partial sums of c·9 terms, not with the output, and
					// F(4×4)'s transforms (factors up to 8 and 1/24) lose about
					// ten times more than F(2×2)'s.
					rtol, atol := 1e-5, 1e-4
					if f.tile == 4 {
						rtol, atol = 1e-4, 5e-4
					}
					if err := nnCompare(got, w2, rtol, atol); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

// TestWinogradUsable pins which geometries take the Winograd path.
func TestWinogradUsable(t *testing.T) {
	cases := []struct {
		x, w    []int
		s, d    []int
		group   int
		want    bool
		comment string
	}{
		{[]int{1, 64, 56, 56}, []int{64, 64, 3, 3}, nil, nil, 1, true, "resnet layer1"},
		{[]int{1, 512, 7, 7}, []int{512, 512, 3, 3}, nil, nil, 1, true, "16 tiles"},
		{[]int{1, 512, 6, 6}, []int{512, 512, 3, 3}, nil, nil, 1, false, "9 tiles"},
		{[]int{1, 8, 56, 56}, []int{64, 8, 3, 3}, nil, nil, 1, false, "few input channels"},
		{[]int{1, 64, 56, 56}, []int{8, 64, 3, 3}, nil, nil, 1, false, "few outputs"},
		{[]int{1, 64, 56, 56}, []int{64, 64, 3, 3}, []int{2, 2}, nil, 1, false, "stride 2"},
		{[]int{1, 64, 56, 56}, []int{64, 64, 3, 3}, nil, []int{2, 2}, 1, false, "dilated"},
		{[]int{1, 64, 56, 56}, []int{64, 32, 3, 3}, nil, nil, 2, false, "grouped"},
		{[]int{1, 64, 56, 56}, []int{64, 64, 5, 5}, nil, nil, 1, false, "5x5"},
		{[]int{1, 64, 9, 56, 56}, []int{64, 64, 1, 3, 3}, nil, nil, 1, false, "3-D"},
	}
	for _, tc := range cases {
		nd := len(tc.x) - 2
		pads := make([]int, 2*nd)
		for i := range pads {
			pads[i] = 1 // "same" for 3×3
		}
		win := nnWindow{strides: tc.s, dilations: tc.d, pads: pads}
		g, err := win.resolve(tc.x[2:], tc.w[2:])
		if err != nil {
			t.Fatal(err)
		}
		want := tc.want && winoFast != nil // portable builds keep im2col
		if got := winoPick(&g, tc.group, tc.x[1], tc.w[0]) != nil; got != want {
			t.Errorf("%s: usable %v, want %v", tc.comment, got, want)
		}
	}
}

// TestWinogradTransformsAgree checks the vector transforms against the
// portable ones bit for bit (they do the same operations in the same
// order), including rows that end inside the last tile and a guard after
// each output row that must stay untouched.
func TestWinogradTransformsAgree(t *testing.T) {
	pairs := [][2]*winoFuncs{{winoFast, winoGo}, {winoFast4, winoGo4}}
	r := rand.New(rand.NewPCG(7, 8))
	for _, pair := range pairs {
		vec, ref := pair[0], pair[1]
		if vec == nil {
			t.Logf("no vector F(%d×%d) on this CPU or build", ref.tile, ref.tile)
			continue
		}
		T, pts := ref.tile, (ref.tile+2)*(ref.tile+2)
		for _, nt := range []int{1, 2, 15, 16, 17, 31, 32, 33, 56} {
			rs := T*nt + 2 + nt%3 // rows at the tightest stride, and longer
			rows := make([]float32, (T+2)*rs+winoSlack)
			for i := range rows {
				rows[i] = r.Float32()*2 - 1
			}
			vs := nt + 3
			got, want := make([]float32, pts*vs), make([]float32, pts*vs)
			vec.input(rows, rs, nt, got, vs)
			ref.input(rows, rs, nt, want, vs)
			if !slices.Equal(got, want) {
				t.Fatalf("F(%d) input transform, %d tiles: vector and portable differ", T, nt)
			}
			m := make([]float32, pts*vs)
			for i := range m {
				m[i] = r.Float32()*2 - 1
			}
			for w := T * nt; w > T*(nt-1); w-- {
				const guard = 40
				gotO, wantO := make([]float32, T*(w+guard)), make([]float32, T*(w+guard))
				for i := range gotO {
					gotO[i], wantO[i] = 7, 7
				}
				var go4, wo4 [4][]float32
				for i := range T {
					go4[i], wo4[i] = gotO[i*(w+guard):i*(w+guard)+w], wantO[i*(w+guard):i*(w+guard)+w]
				}
				vec.output(m, vs, nt, &go4, 0.25, -1, 1.5)
				ref.output(m, vs, nt, &wo4, 0.25, -1, 1.5)
				if !slices.Equal(gotO, wantO) {
					t.Fatalf("F(%d) output transform, %d tiles into rows of %d: vector and portable differ", T, nt, w)
				}
			}
		}
	}
}

// TestWinogradWeightCache checks that a convolution whose weight is an
// initializer transforms it once, and again when given other weights.
func TestWinogradWeightCache(t *testing.T) {
	if winoFast == nil {
		t.Skip("the Winograd path needs the vector transforms")
	}
	r := rand.New(rand.NewPCG(9, 10))
	x := nnRandTensor(r, 1, 16, 8, 8)
	win := nnWindow{pads: []int{1, 1, 1, 1}}
	op := &convOp{win: win, group: 1, constW: true}
	ref := &convOp{win: win, group: 1, ref: true}
	for i := range 3 {
		w := nnRandTensor(r, 16, 16, 3, 3)
		for range 2 {
			got, err := op.Run(nil, []*tensor.Tensor{x, w})
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Run(nil, []*tensor.Tensor{x, w})
			if err != nil {
				t.Fatal(err)
			}
			if err := nnCompare(got[0], want[0], 1e-5, 1e-5); err != nil {
				t.Fatalf("weights %d: %v", i, err)
			}
		}
		if ww := op.wino.Load(); ww == nil || ww.src != &w.Float32()[0] || ww.tile != 2 && ww.tile != 4 {
			t.Fatalf("weights %d: the cache does not hold them", i)
		}
	}
}

// BenchmarkWinogradGemm times one packed panel times the transformed input
// of one block, at resnet18's shapes (c, tiles): GFLOP/s of the products.
func BenchmarkWinogradGemm(b *testing.B) {
	if winoFast == nil {
		b.Skip("no vector Winograd kernels")
	}
	for _, sh := range [][2]int{{64, 224}, {128, 196}, {256, 49}, {512, 16}} {
		c, n := sh[0], sh[1]
		b.Run(fmt.Sprintf("c%d_n%d", c, n), func(b *testing.B) {
			a := make([]float32, c*panelMR)
			v := make([]float32, c*n)
			out := make([]float32, panelMR*n)
			for i := range a {
				a[i] = float32(i%7) * 0.1
			}
			for i := range v {
				v[i] = float32(i%5) * 0.1
			}
			for range b.N {
				winoFast.gemm(c, a, v, n, out, n, n, &noBias, panelLo, panelHi)
			}
			b.ReportMetric(2*float64(panelMR*c*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
