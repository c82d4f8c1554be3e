package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ptq-dev/ptq/dataset"
	"github.com/ptq-dev/ptq/kernels"
)

// runDataFlags are the flags that say where samples come from and how images
// become tensors.
func runDataFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Usage: "samples: .npy (first axis = samples), .npz (one array per input), a folder of those, " +
			"of test_data_set_*/input_N.pb, or of JPEG/PNG images; \"random\" for seeded random data"},
		&cli.IntFlag{Name: "samples", Usage: "use at most this many samples (0: all)"},
		&cli.StringFlag{Name: "image-size", Usage: "resize images to HxW (or one number for a square); default: the model's fixed size"},
		&cli.StringFlag{Name: "mean", Usage: "per-channel mean subtracted after scaling pixels to [0,1], e.g. 0.485,0.456,0.406"},
		&cli.StringFlag{Name: "std", Usage: "per-channel standard deviation divided by, e.g. 0.229,0.224,0.225"},
		&cli.StringFlag{Name: "layout", Usage: "image tensor layout: nchw or nhwc (default: inferred from the model input)"},
		&cli.StringFlag{Name: "channels", Value: "rgb", Usage: "image channel order: rgb or bgr"},
	}
}

// runDatasetInputs converts the engine's input specs to dataset's.
func runDatasetInputs(specs []kernels.ValueSpec) []dataset.Input {
	ins := make([]dataset.Input, len(specs))
	for i, s := range specs {
		ins[i] = dataset.Input{Name: s.Name, DType: s.DType}
		if s.Shape != nil {
			ins[i].Shape = make([]int64, len(s.Shape))
			for j, d := range s.Shape {
				ins[i].Shape[j] = int64(d)
			}
		}
	}
	return ins
}

// runOpenData opens --data for the model's inputs, batch samples per Next
// when the model's batch dimension is symbolic.
func runOpenData(c *cli.Context, specs []kernels.ValueSpec, batch int) (dataset.Reader, error) {
	opts, err := runDataOptions(c, batch)
	if err != nil {
		return nil, err
	}
	return dataset.Open(c.String("data"), runDatasetInputs(specs), opts)
}

// runDataOptions reads the runDataFlags into dataset.Options; commands with
// more data flags set the extra fields on the result.
func runDataOptions(c *cli.Context, batch int) (dataset.Options, error) {
	opts := dataset.Options{
		Batch:    batch,
		Samples:  c.Int("samples"),
		Layout:   c.String("layout"),
		Channels: c.String("channels"),
		Warn:     c.App.ErrWriter,
	}
	var err error
	if s := c.String("image-size"); s != "" {
		if opts.ImageSize, err = runParseSize(s); err != nil {
			return opts, usageError{err.Error()}
		}
	}
	if opts.Mean, err = runParseFloats("mean", c.String("mean")); err != nil {
		return opts, usageError{err.Error()}
	}
	if opts.Std, err = runParseFloats("std", c.String("std")); err != nil {
		return opts, usageError{err.Error()}
	}
	for _, s := range opts.Std {
		if s == 0 {
			return opts, usagef("--std %q: zero standard deviation", c.String("std"))
		}
	}
	return opts, nil
}

// runParseSize reads "224", "224x320" or "224,320" as (height, width).
func runParseSize(s string) ([2]int, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == 'x' || r == 'X' || r == ',' })
	var hw [2]int
	if len(parts) != 1 && len(parts) != 2 {
		return hw, fmt.Errorf("--image-size %q: want N or HxW", s)
	}
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v <= 0 {
			return hw, fmt.Errorf("--image-size %q: bad size %q", s, p)
		}
		hw[i] = v
	}
	if len(parts) == 1 {
		hw[1] = hw[0]
	}
	return hw, nil
}

// runParseFloats reads a comma-separated list of numbers; "" gives nil.
func runParseFloats(flag, s string) ([]float32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float32
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: bad number %q", flag, s, p)
		}
		out = append(out, float32(v))
	}
	return out, nil
}
