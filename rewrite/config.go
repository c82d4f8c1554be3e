package rewrite

import (
	"fmt"
	"path"
	"strings"

	"github.com/ptq-dev/ptq/calibrate"
	"github.com/ptq-dev/ptq/quant"
)

// Mode is what gets quantized.
type Mode int

const (
	// Static quantizes weights and activations, with activation ranges
	// from calibration data.
	Static Mode = iota
	// Dynamic quantizes weights ahead of time and activations at run time
	// (DynamicQuantizeLinear + MatMulInteger); it needs no data.
	Dynamic
	// WeightOnly stores weights as integers behind DequantizeLinear and
	// keeps activations in float; it needs no data.
	WeightOnly
)

// ParseMode reads static, dynamic or weight-only.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "", "static":
		return Static, nil
	case "dynamic":
		return Dynamic, nil
	case "weight-only", "weightonly", "weight_only":
		return WeightOnly, nil
	}
	return 0, fmt.Errorf("unknown mode %q (want static, dynamic or weight-only)", s)
}

func (m Mode) String() string {
	switch m {
	case Static:
		return "static"
	case Dynamic:
		return "dynamic"
	case WeightOnly:
		return "weight-only"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Format is how the quantized graph expresses quantized operators.
type Format int

const (
	// QDQ keeps float operators between DequantizeLinear and
	// QuantizeLinear nodes; runtimes fuse the pattern into integer kernels.
	FormatQDQ Format = iota
	// QOperator uses QLinearConv, QLinearMatMul and ONNX Runtime's
	// QLinear contrib operators directly.
	FormatQOperator
)

// ParseFormat reads qdq or qoperator.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "qdq":
		return FormatQDQ, nil
	case "qoperator", "qop":
		return FormatQOperator, nil
	}
	return 0, fmt.Errorf("unknown format %q (want qdq or qoperator)", s)
}

func (f Format) String() string {
	if f == FormatQOperator {
		return "qoperator"
	}
	return "qdq"
}

// ParseType reads int8, uint8, int4, uint4, int16 or uint16.
func ParseType(s string) (quant.Type, error) {
	switch strings.ToLower(s) {
	case "int8", "s8", "qint8":
		return quant.Int8, nil
	case "uint8", "u8", "quint8":
		return quant.Uint8, nil
	case "int4", "s4":
		return quant.Int4, nil
	case "uint4", "u4":
		return quant.Uint4, nil
	case "int16", "s16":
		return quant.Int16, nil
	case "uint16", "u16":
		return quant.Uint16, nil
	}
	return quant.Type{}, fmt.Errorf("unknown type %q (want int8, uint8, int4, uint4, int16 or uint16)", s)
}

// TensorOverride replaces what calibration chose for one activation tensor.
type TensorOverride struct {
	Range *calibrate.Range `json:"range,omitempty" yaml:"range,omitempty"`
	// Float keeps the tensor in float: every node quantizing it stays float.
	Float bool `json:"float,omitempty" yaml:"float,omitempty"`
}

// Config says how to quantize.
type Config struct {
	Mode           Mode
	Format         Format
	WeightType     quant.Type
	ActivationType quant.Type
	// PerChannel quantizes weights per output channel (needs opset 13).
	PerChannel bool
	// SymmetricActivations centres activation ranges on zero.
	SymmetricActivations bool
	// ReduceRange uses one bit less for weights (7-bit int8), for CPUs
	// without VNNI whose 16-bit accumulation can saturate.
	ReduceRange bool
	// BlockSize > 0 quantizes weights in blocks of that many elements along
	// the input-channel axis (opset 21).
	BlockSize int
	// OpTypes restricts quantization to these op types; empty means every
	// type in Rules.
	OpTypes []string
	// ExcludeOpTypes keeps these op types in float.
	ExcludeOpTypes []string
	// ExcludeNodes keeps these nodes in float: exact names or path.Match
	// patterns.
	ExcludeNodes []string
	// Tensors overrides per activation tensor, by name.
	Tensors map[string]TensorOverride
}

// DefaultConfig is static QDQ with uint8 activations and per-channel
// symmetric int8 weights: the combination ONNX Runtime's x86 kernels run
// fastest (u8s8) and the one its QDQ fusions expect.
func DefaultConfig() Config {
	return Config{
		Mode:           Static,
		Format:         FormatQDQ,
		WeightType:     quant.Int8,
		ActivationType: quant.Uint8,
		PerChannel:     true,
	}
}

func (c Config) weightSymmetric() bool { return c.WeightType.Signed }

// effectiveWeightType narrows the type when ReduceRange asks for it.
func (c Config) effectiveWeightType() quant.Type {
	if c.ReduceRange && c.WeightType.Bits == 8 {
		return c.WeightType.ReduceRange()
	}
	return c.WeightType
}

// Validate checks combinations that cannot work.
func (c Config) Validate() error {
	if !c.WeightType.Valid() || !c.ActivationType.Valid() {
		return fmt.Errorf("invalid quantized types %v / %v", c.WeightType, c.ActivationType)
	}
	if c.BlockSize < 0 || (c.BlockSize > 0 && (c.BlockSize < 16 || c.BlockSize&(c.BlockSize-1) != 0)) {
		return fmt.Errorf("block size %d: want a power of two of at least 16", c.BlockSize)
	}
	if c.BlockSize > 0 && c.Format == FormatQOperator {
		return fmt.Errorf("blocked weights have no QOperator form; use --format qdq")
	}
	if c.Format == FormatQOperator && c.Mode != Static {
		return fmt.Errorf("--format qoperator needs --mode static")
	}
	for _, p := range c.ExcludeNodes {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("exclude pattern %q: %w", p, err)
		}
	}
	return nil
}

// TargetOpset is the lowest default-domain opset that the output needs.
func (c Config) TargetOpset() int {
	need := 13 // per-axis DequantizeLinear, and the fusions ONNX Runtime applies
	if c.BlockSize > 0 || c.WeightType.Bits != 8 || c.ActivationType.Bits != 8 {
		need = 21 // int4, int16/uint16 and blocked Q/DQ
	}
	return need
}

func (c Config) excludedNode(name string) bool {
	for _, p := range c.ExcludeNodes {
		if p == name {
			return true
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func (c Config) opSelected(op string) bool {
	for _, x := range c.ExcludeOpTypes {
		if x == op {
			return false
		}
	}
	if len(c.OpTypes) == 0 {
		return true
	}
	for _, x := range c.OpTypes {
		if x == op {
			return true
		}
	}
	return false
}
