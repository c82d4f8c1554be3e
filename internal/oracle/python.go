package oracle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
)

// CheckModel runs onnx.checker.check_model on path (full_check when full)
// and returns the checker's complaint as an error.
func CheckModel(path string, full bool) error {
	errs, err := CheckModels([]string{path}, full)
	if err != nil {
		return err
	}
	return errs[0]
}

// CheckModels checks many models in one python process; errs[i] is nil when
// paths[i] passes. err reports a failure to run the checker at all.
func CheckModels(paths []string, full bool) (errs []error, err error) {
	if err := Available(PythonONNXOracle); err != nil {
		return nil, err
	}
	args := []string{filepath.Join(RepoRoot(), "tools", "check_model.py")}
	if full {
		args = append(args, "--full")
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		args = append(args, abs)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(Python, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("onnx checker: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	type line struct {
		Path  string  `json:"path"`
		Error *string `json:"error"`
	}
	lines, err := jsonLines[line](stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("onnx checker: %w", err)
	}
	if len(lines) != len(paths) {
		return nil, fmt.Errorf("onnx checker: %d results for %d models: %s", len(lines), len(paths), bytes.TrimSpace(stderr.Bytes()))
	}
	errs = make([]error, len(paths))
	for i, l := range lines {
		if l.Error != nil {
			errs[i] = fmt.Errorf("onnx checker on %s: %s", paths[i], *l.Error)
		}
	}
	return errs, nil
}

// ProtoEqual compares each pair of models as onnx.load sees them (external
// data loaded), all in one python process. errs[i] is nil when the pair is
// equal and otherwise names the first differing field, for example
// `graph.node[3].attribute[0].i: 1 vs 2`. err reports a failure to run python.
func ProtoEqual(pairs [][2]string) (errs []error, err error) {
	if err := Available(PythonONNXOracle); err != nil {
		return nil, err
	}
	abs := make([][2]string, len(pairs))
	for i, p := range pairs {
		for j := range p {
			if abs[i][j], err = filepath.Abs(p[j]); err != nil {
				return nil, err
			}
		}
	}
	in, err := json.Marshal(abs)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(Python, filepath.Join(RepoRoot(), "tools", "proto_equal.py"))
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("proto equality: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	type line struct {
		Equal bool   `json:"equal"`
		Diff  string `json:"diff"`
	}
	lines, err := jsonLines[line](stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("proto equality: %w", err)
	}
	if len(lines) != len(pairs) {
		return nil, fmt.Errorf("proto equality: %d results for %d pairs: %s", len(lines), len(pairs), bytes.TrimSpace(stderr.Bytes()))
	}
	errs = make([]error, len(pairs))
	for i, l := range lines {
		if !l.Equal {
			errs[i] = fmt.Errorf("%s and %s differ: %s", pairs[i][0], pairs[i][1], l.Diff)
		}
	}
	return errs, nil
}

func jsonLines[T any](b []byte) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("bad output line %q: %w", sc.Text(), err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if out == nil && len(bytes.TrimSpace(b)) > 0 {
		return nil, errors.New("no output")
	}
	return out, nil
}
