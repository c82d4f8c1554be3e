package rewrite

import (
	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/tensor"
)

// PassMergeDepthToSpace names MergeDepthToSpace in Prepare's list.
const PassMergeDepthToSpace = "merge-depthtospace"

// maxMergedConv bounds the weight (output x input channels) of a 1x1 Conv
// that MergeDepthToSpace widens: the merged Conv does k1*k1 times its work,
// which pays for the DepthToSpace it saves only when the Conv is small, as
// in a detection head's last layers.
const maxMergedConv = 4096

// MergeDepthToSpace rewrites
//
//	DepthToSpace(k1) -> 1x1 Conv -> elementwise ops -> DepthToSpace(k2)
//
// (both DCR) as one 1x1 Conv on the small image followed by one
// DepthToSpace(k1*k2). A 1x1 Conv after DepthToSpace applies the same
// weights to each of the k1*k1 channel groups it gathered, so it equals a
// Conv with k1*k1 times the channels and block-diagonal weights before it;
// the Conv's output channels are then ordered so that one DepthToSpace
// places every pixel. Two stacked ConvTransposes with kernel = stride
// (PP-OCR det's head, after ConvTransposeToConv) become Conv -> Conv ->
// DepthToSpace: the large intermediate permutation, which ONNX Runtime
// runs on 8-bit data element by element, goes, for a Conv doing k1*k1
// times the work (so only small Convs are merged).
func MergeDepthToSpace(m *graph.Model) error {
	for _, g := range graphs(m) {
		for _, n := range append([]*graph.Node(nil), g.Nodes...) {
			if n.Graph != g {
				continue
			}
			if err := mergeDepthToSpace(m, g, n); err != nil {
				return err
			}
		}
		g.RemoveDead()
	}
	return nil
}

// dcr returns a DCR DepthToSpace's block size, or 0.
func dcr(n *graph.Node) int {
	if n == nil || n.OpType != "DepthToSpace" || !isDefault(n) || len(n.Inputs) != 1 || len(n.Outputs) != 1 ||
		n.AttrString("mode", "DCR") != "DCR" {
		return 0
	}
	return int(n.AttrInt("blocksize", 0))
}

// onlyReader returns the one node reading v, when v has exactly one reader
// in g and is not a graph output.
func onlyReader(g *graph.Graph, v *graph.Value) *graph.Node {
	if v == nil || len(v.Consumers) != 1 || g.IsOutput(v) || v.Consumers[0].Graph != g {
		return nil
	}
	return v.Consumers[0]
}

func pointwiseConv(m *graph.Model, n *graph.Node) bool {
	if n == nil || n.OpType != "Conv" || !isDefault(n) || len(n.Inputs) < 2 || n.AttrInt("group", 1) != 1 {
		return false
	}
	if !allEqual(n.AttrInts("strides", nil), 1, 2) || !allEqual(n.AttrInts("dilations", nil), 1, 2) ||
		!allEqual(n.AttrInts("pads", nil), 0, 4) || !allEqual(n.AttrInts("kernel_shape", nil), 1, 2) {
		return false
	}
	if a := n.AttrString("auto_pad", "NOTSET"); a != "NOTSET" && a != "VALID" {
		return false
	}
	return constant(m, n.Inputs[1]) != nil && (len(n.Inputs) < 3 || n.Inputs[2] == nil || constant(m, n.Inputs[2]) != nil)
}

func mergeDepthToSpace(m *graph.Model, g *graph.Graph, d1 *graph.Node) error {
	k1 := dcr(d1)
	if k1 < 1 || d1.Inputs[0] == nil {
		return nil
	}
	conv := onlyReader(g, d1.Outputs[0])
	if !pointwiseConv(m, conv) || conv.Inputs[0] != d1.Outputs[0] {
		return nil
	}
	// Walk the elementwise ops to the second DepthToSpace.
	var chain []*graph.Node
	v := conv.Outputs[0]
	var d2 *graph.Node
	for {
		r := onlyReader(g, v)
		if r == nil {
			return nil
		}
		if dcr(r) > 0 {
			d2 = r
			break
		}
		if !elementwiseUnary(m, r) || r.Inputs[0] != v {
			return nil
		}
		chain = append(chain, r)
		v = r.Outputs[0]
	}
	k2 := dcr(d2)
	w, ok := floatTensor(m, conv.Inputs[1])
	if !ok || w.Rank() != 4 || w.Shape[0]%(k2*k2) != 0 {
		return nil
	}
	co, mi := w.Shape[0], w.Shape[1]
	if co*mi > maxMergedConv {
		return nil
	}
	c := co / (k2 * k2)
	var bias []float64
	if len(conv.Inputs) > 2 && conv.Inputs[2] != nil {
		if bias, ok = floatConst(m, conv.Inputs[2]); !ok || len(bias) != co {
			return nil
		}
	}
	K, groups := k1*k2, k1*k1
	src := w.Float32()
	dst := make([]float32, groups*co*groups*mi)
	nb := make([]float32, groups*co)
	// Output channel J = (A*K + B)*c + ch of the merged Conv, with
	// A = k2*a1 + a2 and B = k2*b1 + b2, takes group g = a1*k1 + b1's copy
	// of the original output channel o = (a2*k2 + b2)*c + ch, which reads
	// input channels g*mi ... g*mi + mi - 1.
	for a1 := 0; a1 < k1; a1++ {
		for b1 := 0; b1 < k1; b1++ {
			grp := a1*k1 + b1
			for a2 := 0; a2 < k2; a2++ {
				for b2 := 0; b2 < k2; b2++ {
					for ch := 0; ch < c; ch++ {
						o := (a2*k2+b2)*c + ch
						j := ((k2*a1+a2)*K+(k2*b1+b2))*c + ch
						copy(dst[j*groups*mi+grp*mi:j*groups*mi+grp*mi+mi], src[o*mi:o*mi+mi])
						if bias != nil {
							nb[j] = float32(bias[o])
						}
					}
				}
			}
		}
	}
	wp, err := onnxio.FromTensor("", tensor.FromFloat32(dst, groups*co, groups*mi, 1, 1))
	if err != nil {
		return err
	}
	base := conv.Name
	if base == "" {
		base = conv.OpType
	}
	conv.SetInput(1, g.AddInitializer(base+"_merged_weight", wp))
	if bias != nil {
		bp, err := onnxio.FromTensor("", tensor.FromFloat32(nb, len(nb)))
		if err != nil {
			return err
		}
		conv.SetInput(2, g.AddInitializer(base+"_merged_bias", bp))
	}
	conv.SetInput(0, d1.Inputs[0])
	g.RemoveNode(d1)
	// The values between the Conv and the last DepthToSpace now have the
	// small image's shape.
	conv.Outputs[0].Type = elemTypeOnly(conv.Outputs[0].Type)
	for _, n := range chain {
		n.Outputs[0].Type = elemTypeOnly(n.Outputs[0].Type)
	}
	setAttr(d2, graph.IntAttr("blocksize", int64(K)))
	return nil
}
