package kernels

import (
	"testing"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/tensor"
)

func benchQDQ(b *testing.B, opType string, in []*tensor.Tensor) {
	n := &graph.Node{OpType: opType, Outputs: []*graph.Value{{Name: "y"}}}
	op, err := Build(n, 13)
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

func BenchmarkQuantizeLinear(b *testing.B) {
	r := newQtRand(9)
	benchQDQ(b, "QuantizeLinear", []*tensor.Tensor{r.f32(1, 1, 64, 112, 112), qtScalarF(0.02), qtScalarU8(128)})
}

func BenchmarkDequantizeLinear(b *testing.B) {
	r := newQtRand(9)
	benchQDQ(b, "DequantizeLinear", []*tensor.Tensor{r.u8(1, 64, 112, 112), qtScalarF(0.02), qtScalarU8(128)})
}
