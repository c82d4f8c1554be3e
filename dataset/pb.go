package dataset

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
	"github.com/ptq-dev/ptq/tensor"
)

// pbSource reads ONNX test data: each test_data_set_N folder is one sample
// whose input_K.pb files are TensorProtos. A tensor is matched to a model
// input by its name when it has one the model knows, else by K, the
// position among the model's inputs (as ONNX's test runner does).
type pbSource struct {
	sets   []string
	inputs []Input
	single bool // sets are .pb files of a single-input model
	i      int
}

func newPBSource(sets []string, inputs []Input, single bool) (source, error) {
	if single && len(inputs) != 1 {
		return nil, fmt.Errorf("dataset: %s: one .pb file feeds a single-input model; this one has %d inputs (%s)", sets[0], len(inputs), inputNames(inputs))
	}
	return &pbSource{sets: sets, inputs: inputs, single: single}, nil
}

func (s *pbSource) next() (*sample, error) {
	if s.i >= len(s.sets) {
		return nil, io.EOF
	}
	set := s.sets[s.i]
	s.i++
	out := &sample{tensors: map[string]*tensor.Tensor{}, where: set}
	if s.single {
		_, t, err := readPB(set)
		if err != nil {
			return nil, err
		}
		out.tensors[s.inputs[0].Name] = t
		return out, nil
	}
	files, err := filepath.Glob(filepath.Join(set, "input_*.pb"))
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, in := range s.inputs {
		known[in.Name] = true
	}
	for _, f := range files {
		k, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "input_"), ".pb"))
		if err != nil {
			continue
		}
		name, t, err := readPB(f)
		if err != nil {
			return nil, err
		}
		if !known[name] {
			if k >= len(s.inputs) {
				return nil, fmt.Errorf("dataset: %s: input_%d.pb but the model has only %d inputs (%s)", set, k, len(s.inputs), inputNames(s.inputs))
			}
			name = s.inputs[k].Name
		}
		out.tensors[name] = t
	}
	return out, nil
}

func (s *pbSource) len() int     { return len(s.sets) }
func (s *pbSource) close() error { return nil }

// readPB decodes one serialized TensorProto and returns its name.
func readPB(path string) (string, *tensor.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("dataset: %w", err)
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
