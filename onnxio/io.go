// Package onnxio reads and writes ONNX model files: the protobuf itself,
// tensors stored as external data beside it, and the conversion between
// TensorProto and tensor.Tensor. It knows nothing of graphs.
package onnxio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// MaxProtoSize is protobuf's hard limit for one serialized message. A model
// whose protobuf would be larger must keep its big tensors as external data.
const MaxProtoSize = 2<<30 - 1

// Load reads an ONNX model file and brings every tensor stored as external
// data into memory (raw_data set, data_location cleared), so that no other
// package needs to know where the model lived.
func Load(path string) (*onnx.ModelProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := LoadBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := loadExternal(m, filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// LoadBytes parses a serialized model. Tensors that refer to external data
// are left as references; Load resolves them.
func LoadBytes(b []byte) (*onnx.ModelProto, error) {
	if len(b) == 0 {
		return nil, errors.New("empty file: not an ONNX model")
	}
	m := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("not a valid ONNX protobuf: %w", err)
	}
	if m.Graph == nil {
		return nil, errors.New("not an ONNX model: no graph (truncated file, or another kind of protobuf)")
	}
	if m.IrVersion == nil && len(m.OpsetImport) == 0 {
		return nil, errors.New("not an ONNX model: no ir_version and no opset_import")
	}
	return m, nil
}

// SaveOptions controls how Save writes tensors.
type SaveOptions struct {
	// ExternalData moves every tensor of at least ExternalDataThreshold
	// bytes into one data file beside the model.
	ExternalData bool
	// ExternalDataThreshold is the smallest tensor (in bytes of raw data)
	// stored externally; 0 means 1024.
	ExternalDataThreshold int64
	// DataFile names the external data file, relative to the model's folder;
	// empty means the model's file name plus ".data".
	DataFile string
}

// Save writes the model to path atomically: to a temporary file in the same
// folder, then renamed, so a failure never leaves a half-written model. When
// the protobuf would pass MaxProtoSize, large tensors go to external data
// even if opts does not ask for it. m is not modified.
func Save(path string, m *onnx.ModelProto, opts SaveOptions) error {
	if opts.ExternalDataThreshold <= 0 {
		opts.ExternalDataThreshold = 1024
	}
	if !opts.ExternalData && proto.Size(m) > MaxProtoSize {
		opts.ExternalData = true
	}
	if opts.DataFile == "" {
		opts.DataFile = filepath.Base(path) + ".data"
	}
	if !opts.ExternalData {
		b, err := marshalModel(path, m)
		if err != nil {
			return err
		}
		return WriteFileAtomic(path, b)
	}
	restore, dataTmp, err := writeExternal(path, m, opts)
	if err != nil {
		return err
	}
	defer restore()
	defer os.Remove(dataTmp) // a no-op once renamed
	b, err := marshalModel(path, m)
	if err != nil {
		return err
	}
	// Both files are complete in temporaries before either takes its name:
	// the data first, so the new model never points at missing data.
	tmp, err := writeTemp(path, b)
	if err != nil {
		return err
	}
	dataPath := filepath.Join(filepath.Dir(path), opts.DataFile)
	if err := os.Rename(dataTmp, dataPath); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing external data %s: %w", dataPath, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		os.Remove(dataPath)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func marshalModel(path string, m *onnx.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding model: %w", path, err)
	}
	if len(b) > MaxProtoSize {
		return nil, fmt.Errorf("%s: model protobuf is %d bytes, over the 2 GB limit even with external data", path, len(b))
	}
	return b, nil
}

// WriteFileAtomic writes data to a temporary file beside path and renames it
// into place.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeTemp writes data to a new temporary file beside path and returns its
// name; on failure nothing is left behind.
func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return tmp, nil
}

// ForEachTensor calls fn for every TensorProto in the model: initializers,
// sparse initializers' values and indices, and tensor attributes, in the main
// graph, every subgraph, functions and training info.
func ForEachTensor(m *onnx.ModelProto, fn func(t *onnx.TensorProto) error) error {
	var walkGraph func(g *onnx.GraphProto) error
	walkNodes := func(nodes []*onnx.NodeProto) error {
		for _, n := range nodes {
			for _, a := range n.GetAttribute() {
				if a.T != nil {
					if err := fn(a.T); err != nil {
						return err
					}
				}
				for _, t := range a.GetTensors() {
					if err := fn(t); err != nil {
						return err
					}
				}
				if st := a.GetSparseTensor(); st != nil {
					if err := walkSparse(st, fn); err != nil {
						return err
					}
				}
				for _, st := range a.GetSparseTensors() {
					if err := walkSparse(st, fn); err != nil {
						return err
					}
				}
				if a.G != nil {
					if err := walkGraph(a.G); err != nil {
						return err
					}
				}
				for _, g := range a.GetGraphs() {
					if err := walkGraph(g); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	walkGraph = func(g *onnx.GraphProto) error {
		if g == nil {
			return nil
		}
		for _, t := range g.GetInitializer() {
			if err := fn(t); err != nil {
				return err
			}
		}
		for _, st := range g.GetSparseInitializer() {
			if err := walkSparse(st, fn); err != nil {
				return err
			}
		}
		return walkNodes(g.GetNode())
	}
	if err := walkGraph(m.GetGraph()); err != nil {
		return err
	}
	for _, f := range m.GetFunctions() {
		if err := walkNodes(f.GetNode()); err != nil {
			return err
		}
	}
	for _, ti := range m.GetTrainingInfo() {
		if err := walkGraph(ti.GetInitialization()); err != nil {
			return err
		}
		if err := walkGraph(ti.GetAlgorithm()); err != nil {
			return err
		}
	}
	return nil
}

func walkSparse(st *onnx.SparseTensorProto, fn func(t *onnx.TensorProto) error) error {
	if st.Values != nil {
		if err := fn(st.Values); err != nil {
			return err
		}
	}
	if st.Indices != nil {
		return fn(st.Indices)
	}
	return nil
}
