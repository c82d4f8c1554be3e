package graph

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	gonum "gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/simple"
	"gonum.org/v1/gonum/graph/topo"
)

// TopoSort returns g's nodes in an order where every node comes after the
// producers of its inputs, including the values its subgraphs read from g.
// Among valid orders it keeps the current order of g.Nodes as far as it can,
// so a sorted graph comes back unchanged. A cycle is an error naming the
// nodes on it.
func (g *Graph) TopoSort() ([]*Node, error) {
	dg := simple.NewDirectedGraph()
	index := make(map[*Node]int64, len(g.Nodes))
	for i, n := range g.Nodes {
		index[n] = int64(i)
		dg.AddNode(simple.Node(i))
	}
	for i, n := range g.Nodes {
		for _, v := range n.allInputs() {
			if v.Producer == nil {
				continue
			}
			p := v.Producer.ancestorIn(g)
			if p == nil {
				continue // produced in an enclosing graph
			}
			if p == n {
				return nil, fmt.Errorf("graph %q: node %s reads its own output %q", g.Name, n, v.Name)
			}
			dg.SetEdge(dg.NewEdge(simple.Node(index[p]), simple.Node(i)))
		}
	}
	sorted, err := topo.SortStabilized(dg, func(ns []gonum.Node) {
		sort.Slice(ns, func(a, b int) bool { return ns[a].ID() < ns[b].ID() })
	})
	if err != nil {
		var cycles topo.Unorderable
		if errors.As(err, &cycles) && len(cycles) > 0 {
			var names []string
			for _, c := range cycles[0] {
				names = append(names, g.Nodes[c.ID()].String())
			}
			return nil, fmt.Errorf("graph %q has a cycle through %s", g.Name, strings.Join(names, " -> "))
		}
		return nil, fmt.Errorf("graph %q: %w", g.Name, err)
	}
	out := make([]*Node, len(sorted))
	for i, s := range sorted {
		out[i] = g.Nodes[s.ID()]
	}
	return out, nil
}

// Sort reorders g.Nodes topologically (see TopoSort), in g and in every
// subgraph.
func (g *Graph) Sort() error {
	return g.Walk(func(sg *Graph) error {
		nodes, err := sg.TopoSort()
		if err != nil {
			return err
		}
		sg.Nodes = nodes
		return nil
	})
}

// allInputs returns n's inputs plus every value its subgraphs read from
// enclosing scopes (the implicit inputs of If, Loop and Scan).
func (n *Node) allInputs() []*Value {
	var vs []*Value
	for _, v := range n.Inputs {
		if v != nil {
			vs = append(vs, v)
		}
	}
	return append(vs, n.OuterInputs()...)
}

// OuterInputs returns the values that n's subgraphs (at any depth) read from
// scopes outside n, each once.
func (n *Node) OuterInputs() []*Value {
	if len(n.Subgraphs) == 0 {
		return nil
	}
	var vs []*Value
	seen := map[*Value]bool{}
	for _, a := range n.Attrs {
		for _, sg := range n.Subgraphs[a.GetName()] {
			sg.Walk(func(h *Graph) error {
				for _, m := range h.Nodes {
					for _, v := range m.Inputs {
						if v != nil && !seen[v] && !v.Graph.within(n) {
							seen[v] = true
							vs = append(vs, v)
						}
					}
				}
				return nil
			})
		}
	}
	return vs
}

// within reports whether g is a subgraph (at any depth) of node n.
func (g *Graph) within(n *Node) bool {
	for h := g; h != nil && h.owner != nil; h = h.owner.Graph {
		if h.owner == n {
			return true
		}
	}
	return false
}
