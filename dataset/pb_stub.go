//go:build !ptqengine

package dataset

import (
	"errors"

	"github.com/ptq-dev/ptq/tensor"
)

// readPB needs onnxio.ToTensor; until the onnxio package lands the .pb
// reader is built only with the ptqengine tag.
func readPB(path string) (string, *tensor.Tensor, error) {
	return "", nil, errors.New("dataset: " + path + ": reading .pb needs the onnxio package (build with -tags ptqengine)")
}
