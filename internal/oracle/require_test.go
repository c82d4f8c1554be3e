package oracle

import (
	"errors"
	"strings"
	"testing"
)

// recorder stands in for a test so that Skip and Fatal can be observed
// without ending the real one.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(args ...any)      { r.skipped, r.msg = true, args[0].(string) }
func (r *recorder) Fatal(args ...any)     { r.failed, r.msg = true, args[0].(string) }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestMissingOracleSkipsOrFails(t *testing.T) {
	gone := errors.New("not installed")
	for _, tc := range []struct {
		ci         string
		err        error
		skip, fail bool
	}{
		{ci: "", err: gone, skip: true},
		{ci: "false", err: gone, skip: true},
		{ci: "true", err: gone, fail: true},
		{ci: "true", err: nil},
		{ci: "", err: nil},
	} {
		t.Setenv("CI", tc.ci)
		r := &recorder{TB: t}
		missing(r, "ort", tc.err)
		if r.skipped != tc.skip || r.failed != tc.fail {
			t.Errorf("CI=%q err=%v: skipped %v failed %v, want %v %v", tc.ci, tc.err, r.skipped, r.failed, tc.skip, tc.fail)
		}
		if tc.err != nil && !strings.Contains(r.msg, "bash scripts/setup-oracles.sh") {
			t.Errorf("message %q does not say how to install the oracle", r.msg)
		}
	}
}
