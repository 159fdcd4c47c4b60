package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

const generateUsage = `Usage: nanovllm generate --model M [--prompt TEXT | --prompt-ids 1,2,3] [flags]

Generates one completion with the engine (paged KV cache, prefix cache,
the full sampler). The prompt is --prompt, --prompt-ids, or else stdin read
byte for byte (a trailing newline is part of it). --chat wraps a text prompt
as a user message in the model's chat template, as "nanovllm chat" does;
--no-think turns Qwen3's thinking off there.

Sampling flags that are not given take the model's generation_config.json
defaults (Qwen3: --temperature 0.6 --top-p 0.95 --top-k 20);
--temperature 0 is greedy decoding.

Output: the text, streamed as it is generated (token ids instead, for a
model without a tokenizer), then a summary line on stderr. With --json one
line:
  {"token_ids": [...], "text": "...", "finish_reason": "..."}
"text" is left out for a model without tokenizer.json (the qwen3-tiny
fixtures, random: presets without --tokenizer), which accept only
--prompt-ids. finish_reason is "stop" (an end-of-sequence or --stop-token-ids
token, included in token_ids), "stop_string" (a --stop string; the text ends
before it), or "length". With --logprobs N the line also has
  "logprobs": [{"token_id": 1, "logprob": -0.1,
                "top": [{"token_id": 1, "logprob": -0.1}, ...]}, ...]
one entry per generated token with its N most likely alternatives, from the
model's raw distribution (before penalties and temperature).

Flags:
`

// generateResult is the --json output of generate. Keep the shape stable:
// scripts and tests compare it.
type generateResult struct {
	TokenIDs []int32 `json:"token_ids"`
	// Text is nil, and left out, for a model without a tokenizer.
	Text         *string          `json:"text,omitempty"`
	FinishReason string           `json:"finish_reason"`
	Logprobs     []sampler.Result `json:"logprobs,omitempty"`
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ", ") }

func (l *stringList) Set(s string) error {
	if s == "" {
		return errors.New("empty stop string")
	}
	*l = append(*l, s)
	return nil
}

// samplingFlags are generate's sampling flags; set records which were given,
// so that the others keep the model's defaults.
type samplingFlags struct {
	temperature, topP, minP         float64
	topK                            int
	repetition, presence, frequency float64
	seed                            uint64
	maxTokens                       int
	stop                            stringList
	stopTokenIDs                    string
	ignoreEOS                       bool
	minTokens                       int
	includeStop                     bool
	logprobs                        int
	set                             map[string]bool
	defaultMaxTokens                int
}

func (f *samplingFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&f.temperature, "temperature", 0, "sampling temperature; 0 is greedy (default: the model's generation_config.json)")
	fs.Float64Var(&f.topP, "top-p", 0, "nucleus sampling: keep the most likely tokens up to this probability mass (default: the model's)")
	fs.IntVar(&f.topK, "top-k", 0, "keep the k most likely tokens, 0 for all (default: the model's)")
	fs.Float64Var(&f.minP, "min-p", 0, "drop tokens less likely than min-p times the most likely one")
	fs.Float64Var(&f.repetition, "repetition-penalty", 0, "penalty for tokens of the prompt and output, > 1 discourages repeats")
	fs.Float64Var(&f.presence, "presence-penalty", 0, "subtracted from the logits of tokens already generated (-2..2)")
	fs.Float64Var(&f.frequency, "frequency-penalty", 0, "subtracted once per occurrence of a token already generated (-2..2)")
	fs.Uint64Var(&f.seed, "seed", 0, "random seed: the same seed, prompt and flags give the same output (default: random)")
	fs.IntVar(&f.maxTokens, "max-tokens", f.defaultMaxTokens, "most tokens to generate (0: up to --max-model-len)")
	fs.Var(&f.stop, "stop", "stop when the output contains this `STRING` (repeatable); not part of the text unless --include-stop-str-in-output")
	fs.StringVar(&f.stopTokenIDs, "stop-token-ids", "", "comma-separated token `IDS` that also end generation")
	fs.BoolVar(&f.ignoreEOS, "ignore-eos", false, "keep generating past end-of-sequence tokens")
	fs.IntVar(&f.minTokens, "min-tokens", 0, "generate at least `N` tokens before a stop token or stop string may end the output")
	fs.BoolVar(&f.includeStop, "include-stop-str-in-output", false, "keep the --stop string that ended generation in the text")
	fs.IntVar(&f.logprobs, "logprobs", 0, fmt.Sprintf("with --json, report the `N` most likely tokens at each step (0..%d)", sampler.MaxLogprobs))
}

// params returns defaults with the flags that were given applied, checked
// by the sampler, with errors naming the flag.
func (f *samplingFlags) params(defaults sampler.Params) (sampler.Params, error) {
	p := defaults
	if f.set["temperature"] {
		p.Temperature = float32(f.temperature)
	}
	if f.set["top-p"] {
		p.TopP = float32(f.topP)
	}
	if f.set["top-k"] {
		p.TopK = f.topK
	}
	if f.set["min-p"] {
		p.MinP = float32(f.minP)
	}
	if f.set["repetition-penalty"] {
		p.RepetitionPenalty = float32(f.repetition)
	}
	p.PresencePenalty = float32(f.presence)
	p.FrequencyPenalty = float32(f.frequency)
	if f.set["seed"] {
		seed := f.seed
		p.Seed = &seed
	}
	p.MaxTokens = f.maxTokens
	p.Stop = f.stop
	if f.stopTokenIDs != "" {
		ids, err := parseIDList(f.stopTokenIDs, "--stop-token-ids")
		if err != nil {
			return p, err
		}
		p.StopTokenIDs = ids
	}
	p.IgnoreEOS = f.ignoreEOS
	p.MinTokens = f.minTokens
	p.IncludeStopStrInOutput = f.includeStop
	p.Logprobs = f.logprobs
	if err := p.Validate(); err != nil {
		return p, flagNamedError(err)
	}
	return p, nil
}

// flagNamedError rewrites the sampler's field name ("top_p 3 must be ...")
// into the flag a person typed ("--top-p 3 must be ...").
func flagNamedError(err error) error {
	msg := strings.TrimPrefix(err.Error(), sampler.ErrInvalidParams.Error()+": ")
	end := strings.IndexAny(msg, " [")
	if end <= 0 {
		return err
	}
	name := "--" + strings.ReplaceAll(msg[:end], "_", "-")
	return fmt.Errorf("%s%s: %w", name, msg[end:], sampler.ErrInvalidParams)
}

// runGenerate implements "nanovllm generate".
func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return generate(ctx, args, os.Stdin, stdout, stderr)
}

func generate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, generateUsage)
		fs.PrintDefaults()
	}
	var ef engineFlags
	ef.register(fs, "", 0)
	sf := samplingFlags{defaultMaxTokens: 64}
	sf.register(fs)
	prompt := fs.String("prompt", "", "prompt `TEXT` (default: read stdin)")
	promptIDs := fs.String("prompt-ids", "", "the prompt as comma-separated token `IDS`, e.g. 9707,11,1879")
	chat := fs.Bool("chat", false, "wrap the prompt as a user message in the model's chat template")
	system := fs.String("system", "", "with --chat, a system message before the prompt")
	think := fs.Bool("think", false, "with --chat, let Qwen3 think before answering (the template's default)")
	noThink := fs.Bool("no-think", false, "with --chat, switch Qwen3's thinking off")
	asJSON := fs.Bool("json", false, `print {"token_ids": [...], "text": "...", "finish_reason": "..."} (see above)`)
	if err := parseCommandFlags(fs, args, stderr); err != nil {
		return err
	}
	sf.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { sf.set[f.Name] = true })

	// Everything that can be checked without the model is checked first.
	switch {
	case ef.model == "":
		return commandUsageError(fs, stderr, "--model is required")
	case sf.set["prompt"] && sf.set["prompt-ids"]:
		return commandUsageError(fs, stderr, "give --prompt or --prompt-ids, not both")
	case *chat && sf.set["prompt-ids"]:
		return commandUsageError(fs, stderr, "--chat wraps a text prompt; it cannot be combined with --prompt-ids")
	case (*think || *noThink || *system != "") && !*chat:
		return commandUsageError(fs, stderr, "--think, --no-think and --system only apply with --chat")
	case *think && *noThink:
		return commandUsageError(fs, stderr, "give --think or --no-think, not both")
	case sf.logprobs != 0 && !*asJSON:
		return commandUsageError(fs, stderr, "--logprobs are reported in the JSON output: add --json")
	case sf.maxTokens < 0:
		return fmt.Errorf("--max-tokens %d is negative", sf.maxTokens)
	}
	var ids []int32
	if sf.set["prompt-ids"] {
		var err error
		if ids, err = parseIDList(*promptIDs, "--prompt-ids"); err != nil {
			return err
		}
	} else if !sf.set["prompt"] {
		if isTerminal(stdin) {
			fmt.Fprintln(stderr, "generate: reading the prompt from the terminal; end it with Ctrl-D (or pass --prompt)")
		}
		data, err := readAllLimited(stdin, tokenizer.MaxEncodeBytes, "the prompt on stdin")
		if err != nil {
			return err
		}
		*prompt = string(data)
	}

	lm, err := ef.load(ctx, stderr)
	if err != nil {
		return err
	}
	defer lm.Close()
	params, err := sf.params(engine.Qwen3DefaultParams(lm.model))
	if err != nil {
		return err
	}
	if lm.tok == nil {
		switch {
		case ids == nil:
			return noTokenizerError(ef.model, "a text prompt", ", or give the prompt as --prompt-ids")
		case len(params.Stop) > 0:
			return noTokenizerError(ef.model, "--stop", "")
		}
	}
	if ids == nil {
		text := *prompt
		if *chat {
			if text, err = chatPrompt(lm.tok, *system, text, *think, *noThink); err != nil {
				return err
			}
		}
		if ids, err = lm.tok.EncodeChecked(text); err != nil {
			return fmt.Errorf("the prompt: %w", err)
		}
		if len(ids) == 0 {
			return errors.New("the prompt is empty: give --prompt TEXT, --prompt-ids, or text on stdin")
		}
	}

	// The KV pool holds this one request at its longest (plus a block of
	// slack), unless --kv-cache-mib says otherwise.
	maxLen := min(ef.maxModelLen, lm.model.Config().MaxPositionEmbeddings)
	need := maxLen
	if params.MaxTokens > 0 {
		need = min(len(ids)+params.MaxTokens, maxLen)
	}
	e, err := lm.newEngine(ef.engineConfig(need + blockSize))
	if err != nil {
		return err
	}

	start := time.Now()
	streamed := 0
	res, err := e.Stream(ctx, engine.Request{PromptIDs: ids, Params: params}, func(o engine.Output) error {
		if *asJSON {
			return nil
		}
		if lm.tok != nil {
			_, err := io.WriteString(stdout, o.Text)
			return err
		}
		for _, id := range o.TokenIDs {
			sep := " "
			if streamed == 0 {
				sep = ""
			}
			streamed++
			if _, err := fmt.Fprintf(stdout, "%s%d", sep, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	if *asJSON {
		out := generateResult{TokenIDs: idsOrEmpty(res.TokenIDs), FinishReason: res.FinishReason.String(), Logprobs: res.Logprobs}
		if lm.tok != nil {
			out.Text = &res.Text
		}
		return writeJSONLine(stdout, out)
	}
	fmt.Fprintln(stdout)
	m := res.Metrics
	speed := 0.0
	if d := m.LastToken.Sub(m.FirstToken).Seconds(); d > 0 && m.GeneratedTokens > 1 {
		speed = float64(m.GeneratedTokens-1) / d
	}
	spec := ""
	if m.SpecProposed > 0 {
		spec = fmt.Sprintf("; speculative: %d of %d proposed tokens accepted", m.SpecAccepted, m.SpecProposed)
	}
	fmt.Fprintf(stderr, "[finish_reason %s; prompt %d tokens, generated %d; first token after %.2fs, then %.1f tokens/s; total %.2fs%s]\n",
		res.FinishReason, m.PromptTokens, m.GeneratedTokens, m.TimeToFirstToken().Seconds(), speed, time.Since(start).Seconds(), spec)
	return nil
}

// isTerminal reports whether r is a terminal: a character device, but not
// /dev/null or /dev/zero, which are too and say nothing is typed.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	for _, dev := range []string{os.DevNull, "/dev/zero"} {
		if ds, err := os.Stat(dev); err == nil && os.SameFile(st, ds) {
			return false
		}
	}
	return true
}

// chatPrompt renders prompt as the user turn of a conversation (after an
// optional system message) with the generation prompt, so the model answers.
func chatPrompt(tok *tokenizer.Tokenizer, system, prompt string, think, noThink bool) (string, error) {
	if !tok.HasChatTemplate() {
		return "", fmt.Errorf("--chat: %w (drop --chat to use the prompt as is)", tokenizer.ErrNoChatTemplate)
	}
	var msgs []tokenizer.Message
	if system != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: system})
	}
	msgs = append(msgs, tokenizer.Message{Role: "user", Content: prompt})
	opts := tokenizer.ChatOptions{AddGenerationPrompt: true}
	if think || noThink {
		opts.EnableThinking = &think
	}
	s, err := tok.ApplyChatTemplate(msgs, opts)
	if err != nil {
		return "", fmt.Errorf("--chat: %w", err)
	}
	return s, nil
}

// parseIDList parses "1,2,3" for the named flag.
func parseIDList(s, flagName string) ([]int32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%s is empty: give at least one token id", flagName)
	}
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s: %q is not a token id (a non-negative integer)", flagName, f)
		}
		ids = append(ids, int32(v))
	}
	return ids, nil
}
