package main

import "github.com/urfave/cli/v2"

// commands lists ptq's subcommands, one constructor each.
func commands() []*cli.Command {
	return []*cli.Command{
		versionCmd(),
		inspectCmd(),
		convertCmd(),
		runCmd(),
		benchCmd(),
		calibrateCmd(),
		quantizeCmd(),
		compareCmd(),
	}
}
