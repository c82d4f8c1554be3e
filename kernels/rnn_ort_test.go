package kernels

import (
	"testing"

	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// TestRecurrentMatchORT covers what the ONNX node tests leave out: reverse
// and bidirectional directions, sequence_lens, initial states, GRU's
// linear_before_reset, LSTM peepholes with input_forget, clip, and
// non-default activations with alpha/beta.
func TestRecurrentMatchORT(t *testing.T) {
	r := newQtRand(3)
	const seq, batch, isz, hid = 5, 3, 4, 3
	lens := tensor.New(tensor.Int32, batch)
	copy(lens.Data.([]int32), []int32{5, 2, 4})
	mk := func(name, op string, gates, ndir int, withP bool, attrs ...*onnx.AttributeProto) qtCase {
		dir := "forward"
		if ndir == 2 {
			dir = "bidirectional"
		}
		hasDir := false
		for _, a := range attrs {
			if a.GetName() == "direction" {
				hasDir = true
			}
		}
		if !hasDir {
			attrs = append(attrs, &onnx.AttributeProto{Name: strPtr("direction"), Type: attrType(onnx.AttributeProto_STRING), S: []byte(dir)})
		}
		attrs = append(attrs, qtInt("hidden_size", hid))
		c := qtCase{
			name: name, op: op, opset: 14, attrs: attrs,
			inputs: []string{"X", "W", "R", "B", "lens", "h0"},
			feeds:  map[string]*tensor.Tensor{"X": r.f32(1, seq, batch, isz), "lens": lens, "h0": r.f32(0.5, ndir, batch, hid)},
			consts: map[string]*tensor.Tensor{
				"W": r.f32(0.5, ndir, gates*hid, isz), "R": r.f32(0.5, ndir, gates*hid, hid), "B": r.f32(0.3, ndir, 2*gates*hid),
			},
			outputs: []string{"Y", "Y_h"}, outTypes: []tensor.DType{tensor.Float, tensor.Float},
		}
		if op == "LSTM" {
			c.inputs = append(c.inputs, "c0")
			c.feeds["c0"] = r.f32(0.5, ndir, batch, hid)
			c.outputs = append(c.outputs, "Y_c")
			c.outTypes = append(c.outTypes, tensor.Float)
			if withP {
				c.inputs = append(c.inputs, "P")
				c.consts["P"] = r.f32(0.5, ndir, 3*hid)
			}
		}
		return c
	}
	reverse := &onnx.AttributeProto{Name: strPtr("direction"), Type: attrType(onnx.AttributeProto_STRING), S: []byte("reverse")}
	onlyYh := mk("gru_only_Y_h", "GRU", 3, 1, false)
	onlyYh.outputs = []string{"", "Y_h"}
	cases := []qtCase{
		mk("rnn_bidirectional", "RNN", 1, 2, false),
		mk("rnn_reverse_relu_clip", "RNN", 1, 1, false, reverse, qtStrings("activations", "Relu"), qtFloat("clip", 0.7)),
		mk("rnn_leakyrelu_alpha", "RNN", 1, 2, false, qtStrings("activations", "LeakyRelu", "Tanh"), qtFloats("activation_alpha", 0.2)),
		mk("gru_bidirectional", "GRU", 3, 2, false),
		mk("gru_linear_before_reset", "GRU", 3, 2, false, qtInt("linear_before_reset", 1)),
		mk("gru_reverse_clip", "GRU", 3, 1, false, reverse, qtFloat("clip", 0.5)),
		mk("gru_hardsigmoid", "GRU", 3, 1, false, qtStrings("activations", "HardSigmoid", "Tanh"), qtFloats("activation_alpha", 0.3), qtFloats("activation_beta", 0.4)),
		onlyYh,
		mk("lstm_bidirectional_peepholes", "LSTM", 4, 2, true),
		mk("lstm_reverse", "LSTM", 4, 1, false, reverse),
		mk("lstm_input_forget_clip", "LSTM", 4, 1, true, qtInt("input_forget", 1), qtFloat("clip", 1.5)),
		mk("lstm_activations", "LSTM", 4, 1, false, qtStrings("activations", "Sigmoid", "Relu", "Tanh")),
	}
	qtCheck(t, cases)
}
