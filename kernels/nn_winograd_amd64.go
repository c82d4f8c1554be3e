//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func winoInputAVX512(src *float32, rs, nt int, v *float32, vs int)

//go:noescape
func winoOutputAVX512(m *float32, ms, steps int, out0, out1 *float32, lastLoad, lastLo, lastHi int, bias, lo, hi float32)

// winoFast is the vector Winograd transforms, or nil where there are none
// (the convolution then stays on im2col).
var winoFast = func() *winoFuncs {
	if !cpu.X86.HasAVX512F || panelGemm == nil {
		return nil
	}
	return &winoFuncs{
		tile: 2,
		input: func(rows []float32, rs, nt int, v []float32, vs int) {
			if nt == 0 {
				return
			}
			_ = rows[3*rs+2*nt+2+winoSlack-1]
			_ = v[15*vs+nt-1]
			winoInputAVX512(&rows[0], rs, nt, &v[0], vs)
		},
		output: func(m []float32, ms, nt int, out *[4][]float32, bias, lo, hi float32) {
			if nt == 0 {
				return
			}
			out0, out1 := out[0], out[1]
			w := min(len(out0), len(out1), 2*nt)
			if w < 2*nt-1 {
				panic("winograd: output rows too short")
			}
			_ = m[15*ms+nt-1]
			steps := (nt + 15) / 16
			last := nt - 16*(steps-1) // tiles in the last step
			rem := w - 32*(steps-1)   // outputs in the last step
			lastLo, lastHi := 0xffff, 0
			if rem < 16 {
				lastLo = 1<<rem - 1
			} else {
				lastHi = 1<<(rem-16) - 1
			}
			winoOutputAVX512(&m[0], ms, steps, &out0[0], &out1[0], 1<<last-1, lastLo, lastHi, bias, lo, hi)
		},
		gemm: panelGemm,
	}
}()

//go:noescape
func winoInput4AVX512(src *float32, rs, nt int, v *float32, vs int, h *float32)

//go:noescape
func winoOutput4AVX512(m *float32, ms, steps int, out *[4]*float32, last *[5]uint16, bias, lo, hi float32, s *float32)

// winoFast4 is the vector F(4×4, 3×3), or nil where there is none.
var winoFast4 = func() *winoFuncs {
	if !cpu.X86.HasAVX512F || panelGemm == nil {
		return nil
	}
	return &winoFuncs{
		tile: 4,
		input: func(rows []float32, rs, nt int, v []float32, vs int) {
			if nt == 0 {
				return
			}
			_ = rows[5*rs+4*nt+2+winoSlack-1]
			_ = v[35*vs+nt-1]
			var h [36 * 16]float32
			winoInput4AVX512(&rows[0], rs, nt, &v[0], vs, &h[0])
		},
		output: func(m []float32, ms, nt int, out *[4][]float32, bias, lo, hi float32) {
			if nt == 0 {
				return
			}
			w := 4 * nt
			var rows [4]*float32
			for r := range rows {
				w = min(w, len(out[r]))
				rows[r] = &out[r][0]
			}
			if w < 4*nt-3 {
				panic("winograd: output rows too short")
			}
			_ = m[35*ms+nt-1]
			steps := (nt + 15) / 16
			rem := w - 64*(steps-1) // outputs per row in the last step
			last := [5]uint16{uint16(1<<(nt-16*(steps-1)) - 1)}
			for c := range 4 {
				last[1+c] = uint16(1<<min(max(rem-16*c, 0), 16) - 1)
			}
			var s [24 * 16]float32
			winoOutput4AVX512(&m[0], ms, steps, &rows, &last, bias, lo, hi, &s[0])
		},
		gemm: panelGemm,
	}
}()
