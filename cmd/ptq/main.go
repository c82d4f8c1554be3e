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
	"strings"

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
	app := newApp(stdout, stderr)
	// An unknown command is caught here rather than in CommandNotFound, which
	// could only exit the process (and so could not be tested in-process).
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") && args[1] != "help" && app.Command(args[1]) == nil {
		fmt.Fprintf(stderr, "ptq: unknown command %q (see ptq --help)\n", args[1])
		return 2
	}
	err := app.Run(flagsFirst(app, args))
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

// flagsFirst moves a subcommand's flags before its positional arguments,
// because urfave/cli v2 stops reading flags at the first positional one and
// users write "ptq quantize MODEL --data X -o Y". A "--" ends flag reading.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, pos []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue[name] {
			if i+1 == len(rest) {
				return args // a flag without its value: let the parser say so
			}
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(pos) > 0 {
		out = append(append(out, "--"), pos...)
	}
	return out
}

// needArgs checks the number of positional arguments.
func needArgs(c *cli.Context, n int, names string) error {
	if c.NArg() != n {
		return usagef("%s: want %s, got %d argument(s)", c.Command.Name, names, c.NArg())
	}
	return nil
}
