package dataset

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// openFolder picks the source for a folder by what it holds: ONNX
// test_data_set_N folders (or the inputs of one such folder), .npy/.npz
// files, or images. A folder mixing these is an error rather than a guess.
func openFolder(dir string, inputs []Input, opts Options) (source, error) {
	if _, err := os.Stat(filepath.Join(dir, "input_0.pb")); err == nil {
		return newPBSource([]string{dir}, inputs, false)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var sets, arrays, images []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if strings.HasPrefix(e.Name(), "test_data_set_") {
				sets = append(sets, p)
			}
			continue
		}
		switch strings.ToLower(fileExt(e.Name())) {
		case ".npy", ".npz":
			arrays = append(arrays, p)
		case ".jpg", ".jpeg", ".png":
			images = append(images, p)
		}
	}
	kinds := 0
	for _, l := range [][]string{sets, arrays, images} {
		if len(l) > 0 {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return nil, fmt.Errorf("dataset: %s: no test_data_set_* folders, .npy/.npz files or .jpg/.png images", dir)
	case kinds > 1:
		return nil, fmt.Errorf("dataset: %s: mixes %d test_data_set folders, %d .npy/.npz files and %d images; keep one kind per folder",
			dir, len(sets), len(arrays), len(images))
	case len(sets) > 0:
		sortNumeric(sets)
		return newPBSource(sets, inputs, false)
	case len(arrays) > 0:
		sort.Strings(arrays)
		return newFilesSource(arrays, inputs)
	}
	sort.Strings(images)
	return newImageSource(images, inputs, opts)
}

// sortNumeric orders test_data_set_2 before test_data_set_10.
func sortNumeric(paths []string) {
	num := func(p string) (string, int) {
		b := filepath.Base(p)
		i := len(b)
		for i > 0 && b[i-1] >= '0' && b[i-1] <= '9' {
			i--
		}
		n := 0
		fmt.Sscan(b[i:], &n)
		return b[:i], n
	}
	sort.Slice(paths, func(i, j int) bool {
		pi, ni := num(paths[i])
		pj, nj := num(paths[j])
		if pi != pj {
			return pi < pj
		}
		return ni < nj
	})
}

// filesSource reads a list of .npy/.npz files one after the other.
type filesSource struct {
	files  []string
	inputs []Input
	total  int
	cur    source
	k      int
}

func openArrayFile(path string, inputs []Input) (source, error) {
	if strings.ToLower(fileExt(path)) == ".npz" {
		return newNpzSource(path, inputs)
	}
	return newNpySource(path, inputs)
}

func newFilesSource(files []string, inputs []Input) (source, error) {
	s := &filesSource{files: files, inputs: inputs}
	// Opening each file reads only its headers, so counting is cheap and
	// catches a bad file before any sample is fed.
	for _, f := range files {
		src, err := openArrayFile(f, inputs)
		if err != nil {
			return nil, err
		}
		s.total += src.len()
		if err := src.close(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *filesSource) next() (*sample, error) {
	for {
		if s.cur == nil {
			if s.k >= len(s.files) {
				return nil, io.EOF
			}
			src, err := openArrayFile(s.files[s.k], s.inputs)
			if err != nil {
				return nil, err
			}
			s.cur = src
			s.k++
		}
		smp, err := s.cur.next()
		if err != io.EOF {
			return smp, err
		}
		if err := s.cur.close(); err != nil {
			return nil, err
		}
		s.cur = nil
	}
}

func (s *filesSource) len() int { return s.total }

func (s *filesSource) close() error {
	if s.cur != nil {
		err := s.cur.close()
		s.cur = nil
		return err
	}
	return nil
}
