//go:build ptqengine

package dataset

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// readPB decodes one serialized TensorProto and returns its name.
func readPB(path string) (string, *tensor.Tensor, error) {
	b, err := readPBBytes(path)
	if err != nil {
		return "", nil, err
	}
	var tp onnx.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return "", nil, fmt.Errorf("dataset: %s: not a TensorProto: %w", path, err)
	}
	t, err := onnxio.ToTensor(&tp)
	if err != nil {
		return "", nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return tp.GetName(), t, nil
}
