package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ptq-dev/ptq/graph"
	"github.com/ptq-dev/ptq/onnxio"
	"github.com/ptq-dev/ptq/onnxio/onnx"
)

func convertCmd() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "load a model and save it again (pack or unpack external data; round-trip check)",
		ArgsUsage: "IN OUT",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "external-data", Usage: "store large tensors in OUT.data beside OUT"},
			&cli.Int64Flag{Name: "external-data-threshold", Value: 1024, Usage: "smallest tensor, in bytes, stored as external data"},
		},
		Action: convertAction,
	}
}

func convertAction(c *cli.Context) error {
	if err := needArgs(c, 2, "IN OUT"); err != nil {
		return err
	}
	if c.Int64("external-data-threshold") < 0 {
		return usagef("convert: --external-data-threshold must be >= 0")
	}
	in, out := c.Args().Get(0), c.Args().Get(1)
	_, m, err := loadChecked(in)
	if err != nil {
		return err
	}
	mp, err := m.ToProto()
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	opts := onnxio.SaveOptions{
		ExternalData:          c.Bool("external-data"),
		ExternalDataThreshold: c.Int64("external-data-threshold"),
	}
	if opts.ExternalDataThreshold == 0 {
		opts.ExternalDataThreshold = 1 // 0 would mean the default in SaveOptions; here it means every tensor
	}
	return onnxio.Save(out, mp, opts)
}

// loadChecked loads a model with its external data, builds its graph and
// checks that every graph, subgraphs included, is acyclic, so that commands
// refuse a broken model before writing anything.
func loadChecked(path string) (*onnx.ModelProto, *graph.Model, error) {
	mp, err := onnxio.Load(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := graph.FromProto(mp)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := m.Graph.Walk(func(g *graph.Graph) error {
		_, err := g.TopoSort()
		return err
	}); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return mp, m, nil
}
