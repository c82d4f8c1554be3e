// Package onnx holds the ONNX protobuf messages (ModelProto and everything it
// contains), generated from onnx.proto with google.golang.org/protobuf.
//
// The generated code is committed so that users need no protoc. To regenerate
// it, install protoc and protoc-gen-go (go install
// google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12) and run go generate.
package onnx

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
