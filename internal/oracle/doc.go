// Package oracle finds and drives the reference implementations that ptq's
// tests compare against: ONNX Runtime (through Node and onnxruntime-node),
// the python3-onnx checker, the libonnx-testdata conformance data, the PP-OCR
// models, torch/torchvision for exported test models and Fashion-MNIST.
//
// It is for tests only. Every oracle is installed by
//
//	bash scripts/setup-oracles.sh
//
// and a test that needs one calls Require first: without the oracle the test
// is skipped, unless the environment variable CI is "true", in which case it
// fails, so that CI cannot pass by silently testing nothing.
package oracle
