//go:build !unix

package oracle

// lockFile does nothing where flock is missing: generation may then run
// twice, which is slow but still correct because results are renamed into
// place atomically.
func lockFile(path string) (unlock func(), err error) { return func() {}, nil }
