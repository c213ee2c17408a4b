// Command webtune LoRA-fine-tunes tiny llama models stored as GGUF, natively.
//
// Usage: webtune <command> [flags] [args]; `webtune help` lists the commands and
// `webtune <command> --help` describes one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/webtune/webtune/gguf"
)

// command is one webtune subcommand. run parses args with its own flag.FlagSet (output to
// stderr, flag.ContinueOnError), writes results to stdout and returns an error on failure;
// returning flag.ErrHelp (as fs.Parse does for --help) exits with status 0.
type command struct {
	name    string // name is the subcommand word, e.g. "inspect".
	summary string // summary is one line for `webtune help`.
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is every subcommand, in the order `webtune help` lists them. Adding a
// command is adding a line here.
var commands = []command{
	{"inspect", "print a GGUF file's metadata and tensor list", runInspect},
	{"train", "fine-tune a LoRA adapter (or the whole model) on text or conversations", runTrain},
	{"data", "show what train learns from a file: rendered examples, tokens, trained tokens", runData},
	{"generate", "sample text from a model with optional LoRA adapters", runGenerate},
	{"merge", "fold LoRA adapters into a base model (llama.cpp export-lora)", runMerge},
	{"pretrain", "train a llama model from scratch (every weight, own BPE vocabulary)", runPretrain},
	{"serve", "serve the fine-tuning web page (web/ and the wasm build)", runServe},
}

// lookup returns the command named name.
func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args (without the program name) and returns the exit status:
// 0 on success or help, 1 after printing a one-line error to stderr, 2 never (usage errors are 1).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 1
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			usage(stdout)
			return 0
		}
		name, rest = rest[0], []string{"--help"}
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "webtune: unknown command %q (run 'webtune help')\n", name)
		return 1
	}
	if err := c.run(ctx, rest, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "webtune %s: %v\n", name, err)
		return 1
	}
	return 0
}

// usage prints the command list.
func usage(w io.Writer) {
	fmt.Fprint(w, "webtune fine-tunes tiny llama models (GGUF) with LoRA.\n\nusage: webtune <command> [flags] [args]\n\ncommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "  help\tlist the commands, or 'help <command>' to describe one\n")
	tw.Flush()
	fmt.Fprint(w, "\nRun 'webtune <command> --help' for a command's flags.\n")
}

// openGGUF opens path and parses its GGUF header; the caller closes the
// returned file, which backs the tensor data views.
func openGGUF(path string) (*gguf.File, *os.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := fh.Stat()
	if err == nil {
		var f *gguf.File
		if f, err = gguf.Open(fh, st.Size()); err == nil {
			return f, fh, nil
		}
		err = fmt.Errorf("%s: %w", path, err)
	}
	fh.Close()
	return nil, nil, err
}
