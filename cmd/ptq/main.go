// Command ptq is a post-training quantizer for ONNX models: it loads a float
// model, calibrates it on sample data with its own float engine, and writes
// an int8 (int4, weight-only, dynamic) model that ONNX Runtime runs.
//
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// usageError marks errors in how ptq was called, which exit with code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func newApp(stdout, stderr io.Writer) *cli.App {
	cmds := commands()
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = onUsageError
		}
	}
	return &cli.App{
		Name:            "ptq",
		Usage:           "post-training quantization for ONNX models",
		Version:         version,
		Writer:          stdout,
		ErrWriter:       stderr,
		Commands:        cmds,
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "ptq: unknown command %q (see ptq --help)\n", name)
			os.Exit(2)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main decides the exit code
	}
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err.Error()} }

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).Run(args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "ptq: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// needArgs checks the number of positional arguments.
func needArgs(c *cli.Context, n int, names string) error {
	if c.NArg() != n {
		return usagef("%s: want %s, got %d argument(s)", c.Command.Name, names, c.NArg())
	}
	return nil
}
