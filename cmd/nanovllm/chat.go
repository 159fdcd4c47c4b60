package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

const chatHelp = `Type a message and press Enter. Commands:
  /reset        forget the conversation (the system prompt stays)
  /think on|off let the model think before answering, or not
  /help         show this help
  /exit         quit (so do Ctrl-D and Ctrl-C)`

// runChat implements "nanovllm chat": an interactive, streaming, multi-turn
// conversation. Every turn's prompt is the whole conversation rendered with
// the model's chat template; the engine's prefix cache finds the earlier
// turns' KV blocks, so only the new part is computed.
func runChat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return chat(ctx, args, os.Stdin, stdout, stderr)
}

func chat(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("chat", flag.ContinueOnError)
	fl.SetOutput(stderr)
	model := fl.String("model", "", modelHelp)
	tokArg := fl.String("tokenizer", "", "tokenizer `DIR` or repo id (default: the model's; required for random: models)")
	system := fl.String("system", "", "system prompt")
	think := fl.Bool("think", true, "let the model think (<think>...</think>) before it answers; /think on|off switches it")
	maxTokens := fl.Int("max-tokens", 2048, "most tokens per reply")
	temperature := fl.Float64("temperature", 0, "sampling temperature, 0 for greedy (default: the model's generation_config.json)")
	topP := fl.Float64("top-p", 0, "nucleus sampling mass (default: the model's)")
	topK := fl.Int("top-k", 0, "sample from the k most likely tokens (default: the model's)")
	minP := fl.Float64("min-p", 0, "drop tokens less likely than min-p times the best one")
	repetition := fl.Float64("repetition-penalty", 0, "penalty for tokens already seen, > 1 discourages repeats")
	presence := fl.Float64("presence-penalty", 0, "subtracted from the logits of tokens already generated (-2..2)")
	frequency := fl.Float64("frequency-penalty", 0, "subtracted per occurrence of tokens already generated (-2..2)")
	seed := fl.Uint64("seed", 0, "random seed for reproducible replies (default: random)")
	kvMiB := fl.Int64("kv-cache-mib", 1024, "memory for the KV cache, in MiB")
	maxLen := fl.Int("max-model-len", 4096, "most tokens in the conversation, prompt and replies")
	threads := fl.Int("threads", 0, "CPU threads (0: all)")
	precision := cpu.PrecisionFloat32
	fl.TextVar(&precision, "precision", cpu.PrecisionFloat32, precisionHelp)
	var kvDType kvCacheDType
	fl.TextVar(&kvDType, "kv-cache-dtype", kvCacheDType(0), kvDTypeHelp)
	var quantize weightQuant
	fl.TextVar(&quantize, "quantize", weightQuant(0), quantizeHelp)
	stats := fl.Bool("stats", true, "print token counts and speed after each reply, to stderr")
	var sf specFlags
	sf.register(fl)
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: nanovllm chat --model DIR|REPO [flags]\n\n%s\n\nFlags:\n", chatHelp)
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "chat: unexpected argument %q\n", fl.Arg(0))
		fl.Usage()
		return errUsage
	}
	if *model == "" {
		fmt.Fprintln(stderr, "chat: --model is required")
		fl.Usage()
		return errUsage
	}
	// The sizes are checked before anything is loaded or allocated.
	if err := checkThreads(*threads); err != nil {
		return err
	}
	if *kvMiB == 0 {
		return fmt.Errorf("--kv-cache-mib 0: chat needs a KV cache (the default is 1024)")
	}
	if err := checkKVCacheMiB(*kvMiB); err != nil {
		return err
	}
	if err := checkModelLen(*maxLen); err != nil {
		return err
	}
	if err := sf.check(); err != nil {
		return err
	}
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })

	dev := cpu.New(cpu.Options{Threads: *threads, Precision: precision})
	defer dev.Close()
	m, tok, err := chatLoad(ctx, *model, *tokArg, dev, qwen3.Options{KVCacheDType: kvDType.DType(), Quantize: quantize.DType()}, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	if !tok.HasChatTemplate() {
		return fmt.Errorf("the tokenizer of %s has no chat template; chat needs one (try generate)", *model)
	}

	params := engine.Qwen3DefaultParams(m)
	if set["temperature"] {
		params.Temperature = float32(*temperature)
	}
	if set["top-p"] {
		params.TopP = float32(*topP)
	}
	if set["top-k"] {
		params.TopK = *topK
	}
	if set["min-p"] {
		params.MinP = float32(*minP)
	}
	if set["repetition-penalty"] {
		params.RepetitionPenalty = float32(*repetition)
	}
	params.PresencePenalty = float32(*presence)
	params.FrequencyPenalty = float32(*frequency)
	params.MaxTokens = *maxTokens
	if err := params.Validate(); err != nil {
		return err
	}

	cfg := engine.Config{
		Cache:     block.Config{BlockSize: 16, MemoryBudget: *kvMiB << 20, PrefixCaching: true},
		Scheduler: scheduler.DefaultConfig(),
	}
	cfg.Scheduler.MaxModelLen = *maxLen
	if set["seed"] {
		// One conversation, one seed: each reply draws its seed from a
		// source seeded here, so the whole chat replays.
		cfg.Seeds = sampler.NewRNG(*seed)
	}
	lm := &loadedModel{name: *model, dev: dev, model: m, tok: tok, spec: sf}
	if err := sf.loadDraft(ctx, lm, stderr); err != nil {
		return err
	}
	if lm.draft != nil {
		defer lm.draft.Close()
	}
	if cfg.Speculative, err = sf.speculative(lm, cfg); err != nil {
		return err
	}
	if err := checkEngineMemory(m, cfg); err != nil {
		return err
	}
	e, err := engine.NewQwen3(m, tok, cfg)
	if err != nil {
		return err
	}

	c := &chatSession{e: e, tok: tok, params: params, think: *think, system: *system, stdout: stdout, stderr: stderr, stats: *stats}
	c.reset()
	fmt.Fprintf(stderr, "nanovllm chat: %s on %s, thinking %s. /help for commands.\n", *model, dev.Name(), onOff(c.think))

	lines := make(chan chatLine)
	readErr := make(chan error, 1)
	go func() {
		br := bufio.NewReaderSize(stdin, 64<<10)
		for {
			l, err := readChatLine(br, maxChatLine)
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				readErr <- err
				close(lines)
				return
			}
			select {
			case lines <- l:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		fmt.Fprint(stdout, ">>> ")
		var line string
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout)
			return nil
		case l, ok := <-lines:
			if !ok {
				fmt.Fprintln(stdout)
				return <-readErr
			}
			if l.tooLong {
				fmt.Fprintf(stdout, "error: the message is longer than %d bytes; it was not sent\n", maxChatLine)
				continue
			}
			line = strings.TrimSpace(l.text)
		}
		switch {
		case line == "":
			continue
		case line == "/exit" || line == "/quit":
			return nil
		case line == "/help":
			fmt.Fprintln(stdout, chatHelp)
			continue
		case line == "/reset":
			c.reset()
			fmt.Fprintln(stdout, "(conversation cleared)")
			continue
		case strings.HasPrefix(line, "/think"):
			switch strings.TrimSpace(strings.TrimPrefix(line, "/think")) {
			case "on":
				c.think = true
			case "off":
				c.think = false
			case "":
				c.think = !c.think
			default:
				fmt.Fprintln(stdout, "usage: /think on|off")
				continue
			}
			fmt.Fprintf(stdout, "(thinking %s)\n", onOff(c.think))
			continue
		case strings.HasPrefix(line, "/"):
			fmt.Fprintf(stdout, "unknown command %s; /help lists them\n", line)
			continue
		}
		if err := c.turn(ctx, line); err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(stdout)
				return nil
			}
			fmt.Fprintf(stdout, "error: %v\n", err)
		}
	}
}

// maxChatLine is the longest message chat reads from a line. A longer one
// is reported and skipped, and the session goes on.
const maxChatLine = 1 << 20

// chatLine is one line of chat's input, or the notice that it was too long.
type chatLine struct {
	text    string
	tooLong bool
}

// readChatLine reads one line (without its \n or \r\n) of at most max
// bytes. The rest of a longer line is read and dropped, in pieces, so that
// memory stays bounded; the line then comes back marked tooLong. The
// error is io.EOF at the end of the input.
func readChatLine(br *bufio.Reader, max int) (chatLine, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(bytes.TrimRight(chunk, "\r\n")) > max {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (len(buf) > 0 || tooLong):
			err = nil
		case err != nil:
			return chatLine{}, err
		}
		return chatLine{text: strings.TrimRight(string(buf), "\r\n"), tooLong: tooLong}, nil
	}
}

// chatLoad loads the model and its tokenizer on dev, with download
// progress on progress.
func chatLoad(ctx context.Context, model, tokArg string, dev *cpu.Device, opts qwen3.Options, progress io.Writer) (*qwen3.Model, *tokenizer.Tokenizer, error) {
	dir, err := resolveModel(ctx, model, progress)
	if err != nil {
		return nil, nil, err
	}
	tok, err := loadModelTokenizer(ctx, model, dir, tokArg)
	if err != nil {
		return nil, nil, err
	}
	if tok == nil {
		return nil, nil, noTokenizerError(model, "chat", "")
	}
	m, err := loadQwen3(dir, dev, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("loading %s: %w", model, err)
	}
	return m, tok, nil
}

// chatSession is one conversation.
type chatSession struct {
	e       *engine.Engine
	tok     *tokenizer.Tokenizer
	params  sampler.Params
	think   bool
	system  string
	history []tokenizer.Message
	stdout  io.Writer
	stderr  io.Writer
	stats   bool
}

func (c *chatSession) reset() {
	c.history = c.history[:0]
	if c.system != "" {
		c.history = append(c.history, tokenizer.Message{Role: "system", Content: c.system})
	}
}

// turn sends one user message and streams the reply. On failure the
// message is dropped from the history, so the user can retry or /reset.
func (c *chatSession) turn(ctx context.Context, msg string) error {
	msgs := append(c.history, tokenizer.Message{Role: "user", Content: msg})
	think := c.think
	prompt, err := c.tok.ApplyChatTemplate(msgs, tokenizer.ChatOptions{AddGenerationPrompt: true, EnableThinking: &think})
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := c.e.Stream(ctx, engine.Request{Prompt: prompt, Params: c.params}, func(o engine.Output) error {
		_, err := io.WriteString(c.stdout, o.Text)
		return err
	})
	fmt.Fprintln(c.stdout)
	if errors.Is(err, engine.ErrPromptTooLong) {
		return fmt.Errorf("the conversation no longer fits the model's context (--max-model-len); /reset to start over: %w", err)
	}
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	c.history = append(msgs, tokenizer.Message{Role: "assistant", Content: res.Text})
	if c.stats {
		m := res.Metrics
		speed := 0.0
		if d := m.LastToken.Sub(m.FirstToken).Seconds(); d > 0 && m.GeneratedTokens > 1 {
			speed = float64(m.GeneratedTokens-1) / d
		}
		fmt.Fprintf(c.stderr, "[prompt %d tokens, %d cached; reply %d tokens (%s), %.1f tokens/s, first token after %.2fs, total %.2fs]\n",
			m.PromptTokens, m.CachedTokens, m.GeneratedTokens, res.FinishReason, speed,
			m.TimeToFirstToken().Seconds(), time.Since(start).Seconds())
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
