package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestDw3Direct checks the 3x3 depthwise kernels that read the unpadded
// plane against convRef on every width up to four vectors of output and
// wider ones, both strides, every padding the kernels accept up to 2 (also
// asymmetric), several channels in one call and a clamp that bites.
func TestDw3Direct(t *testing.T) {
	if nnDw3Direct == nil {
		t.Skip("no direct depthwise kernel on this CPU/build")
	}
	r := rand.New(rand.NewPCG(31, 32))
	for _, stride := range []int{1, 2} {
		for _, inW := range dw3TestWidths() {
			for _, p := range [][4]int{{1, 1, 1, 1}, {0, 0, 0, 0}, {0, 0, 1, 1}, {1, 0, 0, 1}, {2, 2, 2, 2}, {0, 2, 1, 0}, {0, 0, 2, 2}, {2, 1, 0, 1}} {
				inH := 1 + (inW*7)%6
				t.Run(fmt.Sprintf("s%d/w%d/p%v", stride, inW, p), func(t *testing.T) {
					g := nnGeom{nd: 3, in: [3]int{1, inH, inW}, k: [3]int{1, 3, 3}, s: [3]int{1, stride, stride}, d: [3]int{1, 1, 1},
						pb: [3]int{0, p[0], p[1]}, pe: [3]int{0, p[2], p[3]}}
					for a := 1; a < 3; a++ {
						g.out[a] = (g.in[a]+g.pb[a]+g.pe[a]-3)/stride + 1
					}
					g.out[0] = 1
					if g.out[1] <= 0 || g.out[2] <= 0 {
						t.Skip("empty output")
					}
					outH, outW := g.out[1], g.out[2]
					plane := nnDw3Direct(outH, outW, inH, inW, stride, p[0], p[1])
					if plane == nil {
						t.Fatal("no kernel")
					}
					// three channels in one call, each with its own
					// weights and bias
					const nch = 3
					inV, outV := inH*inW, outH*outW
					x := nnRandTensor(r, nch*inV).Float32()
					w := nnRandTensor(r, nch*9).Float32()
					bias := []float32{0.25, -0.5, 0.125}
					// a guard value after the planes must survive
					got := make([]float32, nch*outV+17)
					for i := range got {
						got[i] = 99
					}
					const lo, hi = -0.8, 1.1
					plane(got[:nch*outV], x, w, bias, lo, hi)
					for ch := range nch {
						want := make([]float32, outV)
						convRef(x[ch*inV:(ch+1)*inV], w[ch*9:(ch+1)*9], bias[ch:ch+1], want, &g, 1, 1, 1, 1)
						for i, v := range want {
							v = min(max(v, lo), hi)
							if d := got[ch*outV+i] - v; d > 1e-5 || d < -1e-5 {
								t.Fatalf("out %dx%d: channel %d y[%d,%d] = %v, want %v", outH, outW, ch, i/outW, i%outW, got[ch*outV+i], v)
							}
						}
					}
					for i := nch * outV; i < len(got); i++ {
						if got[i] != 99 {
							t.Fatalf("wrote past the planes at %d", i-nch*outV)
						}
					}
				})
			}
		}
	}
}

// dw3TestWidths are 1 to 70 and wider rows whose unrolled loop runs whole
// groups of three vectors and then a remainder.
func dw3TestWidths() []int {
	var ws []int
	for w := 1; w <= 70; w++ {
		ws = append(ws, w)
	}
	return append(ws, 97, 112, 113, 127, 130, 160, 224)
}

// TestGather2 checks the stride-2 gather on every length up to three
// vectors and past them.
func TestGather2(t *testing.T) {
	for n := range 70 {
		src := make([]float32, 2*n)
		for i := range src {
			src[i] = float32(i)
		}
		d := make([]float32, n+1)
		d[n] = -1
		nnGather2(d[:n], src)
		for i := range n {
			if d[i] != float32(2*i) {
				t.Fatalf("n=%d: d[%d] = %v", n, i, d[i])
			}
		}
		if d[n] != -1 {
			t.Fatalf("n=%d: wrote past d", n)
		}
	}
}
