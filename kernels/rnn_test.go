package kernels

import (
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

// TestRNNLayoutsAgree checks that layout=1 (batch first) gives the layout=0
// results transposed, for every output, on a bidirectional LSTM with
// uneven sequence lengths.
func TestRNNLayoutsAgree(t *testing.T) {
	r := newQtRand(5)
	const seq, batch, isz, hid = 4, 3, 5, 2
	x := r.f32(1, seq, batch, isz)
	w, rr, b := r.f32(0.5, 2, 4*hid, isz), r.f32(0.5, 2, 4*hid, hid), r.f32(0.3, 2, 8*hid)
	lens := tensor.New(tensor.Int32, batch)
	copy(lens.Data.([]int32), []int32{4, 1, 3})
	h0, c0 := r.f32(0.5, 2, batch, hid), r.f32(0.5, 2, batch, hid)
	run := func(layout int, in []*tensor.Tensor) []*tensor.Tensor {
		n := &graph.Node{OpType: "LSTM", Attrs: nil}
		n.Attrs = append(n.Attrs, graph.IntAttr("layout", int64(layout)), graph.StringAttr("direction", "bidirectional"), graph.IntAttr("hidden_size", hid))
		n.Outputs = []*graph.Value{{Name: "y"}, {Name: "yh"}, {Name: "yc"}}
		op, err := Build(n, 14)
		if err != nil {
			t.Fatal(err)
		}
		out, err := op.Run(&Context{Threads: 1}, in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	swap := func(v *tensor.Tensor, perm ...int) *tensor.Tensor { return transposeF32(&Context{}, v, perm) }
	a := run(0, []*tensor.Tensor{x, w, rr, b, lens, h0, c0})
	bt := run(1, []*tensor.Tensor{swap(x, 1, 0, 2), w, rr, b, lens, swap(h0, 1, 0, 2), swap(c0, 1, 0, 2)})
	checks := []struct {
		name      string
		got, want *tensor.Tensor
	}{
		{"Y", bt[0], swap(a[0], 2, 0, 1, 3)},
		{"Y_h", bt[1], swap(a[1], 1, 0, 2)},
		{"Y_c", bt[2], swap(a[2], 1, 0, 2)},
	}
	for _, c := range checks {
		if err := elemCompare(c.got, c.want, 0, 0); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Rows past their length are zero in Y (row 1 has length 1).
	y := a[0].Float32()
	for s := 1; s < seq; s++ {
		for d := range 2 {
			for j := range hid {
				if v := y[((s*2+d)*batch+1)*hid+j]; v != 0 {
					t.Fatalf("Y[%d,%d,1,%d] = %v past the sequence end", s, d, j, v)
				}
			}
		}
	}
}

func BenchmarkLSTM(b *testing.B) {
	r := newQtRand(6)
	const seq, batch, isz, hid = 100, 1, 256, 256
	in := []*tensor.Tensor{r.f32(1, seq, batch, isz), r.f32(0.1, 1, 4*hid, isz), r.f32(0.1, 1, 4*hid, hid), r.f32(0.1, 1, 8*hid)}
	n := &graph.Node{OpType: "LSTM", Attrs: nil, Outputs: []*graph.Value{{Name: "y"}}}
	n.Attrs = append(n.Attrs, graph.IntAttr("hidden_size", hid))
	op, err := Build(n, 14)
	if err != nil {
		b.Fatal(err)
	}
	ctx := &Context{Threads: 1}
	for b.Loop() {
		if _, err := op.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
