// Package graph is the in-memory ONNX graph that ptq's passes read and edit:
// nodes, the values that join them, initializers, and the producer and
// consumer indexes that keep edits cheap.
//
// A Graph keeps the protobuf fields it does not model, so converting a model
// to a Graph and back changes nothing that no pass touched.
package graph

import (
	"github.com/ptq-dev/ptq/onnxio/onnx"
)

// Model is a loaded ONNX model: the top-level graph plus every ModelProto
// field other than the graph, kept as it was read.
type Model struct {
	// Proto holds every ModelProto field but Graph (which is nil here); ToProto
	// fills Graph from the Graph below.
	Proto *onnx.ModelProto
	Graph *Graph
}

// Graph is one ONNX graph: the main graph or the body of an If, Loop or Scan.
type Graph struct {
	Name    string
	Nodes   []*Node  // in the order they were read or inserted; see TopoSort
	Inputs  []*Value // graph inputs, in order (may include initializers, as older IRs require)
	Outputs []*Value // graph outputs, in order

	// Parent is the graph that holds the node owning this subgraph; nil for
	// the main graph. Values not defined here resolve through Parent.
	Parent *Graph

	values       map[string]*Value // every value defined or referenced in this graph
	initializers []*Value          // in the order they were read or added
	proto        *onnx.GraphProto  // the fields not modelled above (doc string, value_info order, sparse initializers, annotations, metadata)
	ns           *namespace        // names used anywhere in the model, shared by all its graphs
	owner        *Node             // the node whose attribute holds this subgraph; nil for the main graph
}

// Value is a named edge: a graph input, an initializer, or a node output.
type Value struct {
	Name string

	// Type is the value's type and shape as far as known (from value_info,
	// inputs/outputs or inference); nil when unknown.
	Type *onnx.TypeProto

	// Initializer is the constant data when the value is an initializer.
	Initializer *onnx.TensorProto

	// Producer is the node that outputs this value; nil for graph inputs and
	// initializers.
	Producer *Node

	// Consumers are the nodes that read this value, in graph order, once per
	// node even if it reads the value on several inputs.
	Consumers []*Node

	// Graph is the graph that defines the value.
	Graph *Graph
}

// Node is one operator application.
type Node struct {
	Name   string
	OpType string
	Domain string // "" or "ai.onnx" for the default domain

	// Inputs and Outputs hold nil where an optional input or output is absent
	// (an empty name in ONNX).
	Inputs  []*Value
	Outputs []*Value

	// Attrs are the node's attributes as read; attributes that hold graphs
	// (If, Loop, Scan bodies) also appear, parsed, in Subgraphs.
	Attrs []*onnx.AttributeProto

	// Subgraphs maps an attribute name to its parsed graph (GRAPH attributes)
	// or graphs (GRAPHS attributes, in order).
	Subgraphs map[string][]*Graph

	// Graph is the graph that holds the node.
	Graph *Graph

	proto *onnx.NodeProto // doc string, metadata and fields not modelled
}
