// Command nanovllm runs Qwen3 models with nano-vllm-go's engine: generate,
// chat, tokenize, detokenize, bench and serve.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and writes results to stdout; errors go back to main, which prints
// them and exits non-zero.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"generate", "generate a completion for a prompt", runGenerate},
		{"chat", "chat interactively with streamed replies", runChat},
		{"tokenize", "encode text (or a chat) to token ids", runTokenize},
		{"detokenize", "decode token ids to text", runDetokenize},
		{"bench", "measure throughput and latency (the model's kernels, or the engine)", runBenchCommand},
		{"serve", "serve the browser demo on localhost", runServe},
		{"quantize", "write a model as a (quantized) GGUF file", runQuantize},
	}
}

// errUsage marks an error whose message is already the help to print.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "nanovllm %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "nanovllm: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: nanovllm <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'nanovllm <command> -h' for a command's flags.")
}
