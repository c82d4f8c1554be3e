package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestPanelGemm checks the vector panel kernel against panelGemmFunc's
// definition: column counts around its 16-wide steps, strided operands,
// bias and clamps, and that it writes nothing past n columns.
func TestPanelGemm(t *testing.T) {
	if panelGemm == nil {
		t.Skip("no vector panel kernel on this CPU or build")
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, kc := range []int{1, 3, 64, 147} {
		for _, n := range []int{1, 15, 16, 17, 33, 100} {
			t.Run(fmt.Sprintf("k%d_n%d", kc, n), func(t *testing.T) {
				m := 13 // rows of the packed source: the rest of the panel is zero
				w := make([]float32, m*kc)
				for i := range w {
					w[i] = r.Float32()*2 - 1
				}
				a := nnPackPanels(w, m, kc, kc)
				ldb, ldc := n+5, n+7
				b := make([]float32, kc*ldb)
				for i := range b {
					b[i] = r.Float32()*2 - 1
				}
				var bias [panelMR]float32
				for i := range bias {
					bias[i] = r.Float32()
				}
				got, want := make([]float32, panelMR*ldc), make([]float32, panelMR*ldc)
				for i := range got {
					got[i], want[i] = 9, 9
				}
				panelGemm(kc, a, b, ldb, got, ldc, n, &bias, -0.5, 2)
				panelGemmGo(kc, a, b, ldb, want, ldc, n, &bias, -0.5, 2)
				for i := range got {
					d := got[i] - want[i]
					if d > 1e-4 || d < -1e-4 {
						t.Fatalf("c[%d][%d] = %v, want %v", i/ldc, i%ldc, got[i], want[i])
					}
				}
				// rows past the source's m hold bias alone, clamped
				if got[(panelMR-1)*ldc] != min(max(bias[panelMR-1], -0.5), 2) {
					t.Fatalf("padded row: %v", got[(panelMR-1)*ldc])
				}
			})
		}
	}
}
