package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/hub"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

const tokenizeUsage = `Usage: nanovllm tokenize (--model M | --tokenizer T) [--text TEXT | --chat FILE] [--json]

Encodes text to Qwen3 token ids with the model's own tokenizer.json, exactly
as Hugging Face's tokenizer does. Special tokens written in the text (such as
<|im_start|>) become their ids. Without --text or --chat the text is read
from stdin, byte for byte (a trailing newline is part of it).

--chat FILE renders a conversation with the model's chat template first.
FILE ('-' for stdin) holds either an OpenAI-style messages array,
  [{"role": "user", "content": "Hi"}]
which gets the generation prompt, or an object
  {"messages": [...], "add_generation_prompt": true|false,
   "enable_thinking": true|false|null, "tools": [...]}.

Output: the ids separated by commas, or with --json {"ids": [...]} and, for
--chat, {"ids": [...], "text": "<rendered prompt>"}.

Flags:
`

// chatFile is the object form of a --chat file.
type chatFile struct {
	Messages            json.RawMessage   `json:"messages"`
	AddGenerationPrompt *bool             `json:"add_generation_prompt"`
	EnableThinking      *bool             `json:"enable_thinking"`
	Tools               []json.RawMessage `json:"tools"`
}

func runTokenize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(stderr, tokenizeUsage)
		fl.PrintDefaults()
	}
	model := fl.String("model", "", "model `DIR` or Hugging Face repo id (Org/Name[@revision])")
	tokDir := fl.String("tokenizer", "", "tokenizer `DIR` or repo id, if not the model's")
	text := fl.String("text", "", "`TEXT` to encode (default: read stdin)")
	chat := fl.String("chat", "", "JSON `FILE` with a conversation to render and encode ('-' for stdin)")
	asJSON := fl.Bool("json", false, "print JSON")
	if err := parseCommandFlags(fl, args, stderr); err != nil {
		return err
	}
	textSet := isFlagSet(fl, "text")
	if textSet && *chat != "" {
		return commandUsageError(fl, stderr, "--text and --chat cannot be combined")
	}

	// Read the input before loading the tokenizer (which takes a moment),
	// so a mistake in it is reported at once.
	var (
		messages json.RawMessage
		opts     tokenizer.ChatOptions
	)
	if *chat != "" {
		data, err := readFileOrStdin(*chat, maxChatFile)
		if err != nil {
			return fmt.Errorf("--chat: %w", err)
		}
		if messages, opts, err = parseChatFile(data); err != nil {
			return fmt.Errorf("--chat %s: %w", *chat, err)
		}
	} else if !textSet {
		data, err := readAllLimited(os.Stdin, tokenizer.MaxEncodeBytes, "the text on stdin")
		if err != nil {
			return err
		}
		*text = string(data)
	}

	tok, err := loadTokenizer(ctx, *model, *tokDir, stderr)
	if err != nil {
		return err
	}

	if *chat != "" {
		prompt, err := tok.ApplyChatTemplateJSON(messages, opts)
		if err != nil {
			return fmt.Errorf("--chat %s: %w", *chat, err)
		}
		ids, err := tok.EncodeChecked(prompt)
		if err != nil {
			return fmt.Errorf("--chat %s: the rendered prompt: %w", *chat, err)
		}
		if *asJSON {
			return writeJSONLine(stdout, struct {
				IDs  []int32 `json:"ids"`
				Text string  `json:"text"`
			}{idsOrEmpty(ids), prompt})
		}
		_, err = fmt.Fprintln(stdout, formatIDs(ids))
		return err
	}

	ids, err := tok.EncodeChecked(*text)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONLine(stdout, struct {
			IDs []int32 `json:"ids"`
		}{idsOrEmpty(ids)})
	}
	_, err = fmt.Fprintln(stdout, formatIDs(ids))
	return err
}

// maxChatFile is the largest --chat file: the messages and the tools, each
// at most tokenizer.MaxConversationBytes.
const maxChatFile = 2*tokenizer.MaxConversationBytes + 1<<16

// parseChatFile reads a --chat file: the messages and the template options.
// Its nesting is checked first (the decoders recurse once per level).
func parseChatFile(data []byte) (json.RawMessage, tokenizer.ChatOptions, error) {
	data = bytes.TrimSpace(data)
	depth := tokenizer.MaxJSONDepth
	if len(data) > 0 && data[0] == '{' {
		depth++ // the object around the messages
	}
	if err := tokenizer.CheckJSONDepth(data, depth); err != nil {
		return nil, tokenizer.ChatOptions{}, err
	}
	opts := tokenizer.ChatOptions{AddGenerationPrompt: true}
	messages := json.RawMessage(data)
	switch {
	case len(data) > 0 && data[0] == '[':
	case len(data) > 0 && data[0] == '{':
		var f chatFile
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, opts, fmt.Errorf("not a chat object (messages, add_generation_prompt, enable_thinking, tools): %w", err)
		}
		if f.Messages == nil {
			return nil, opts, errors.New(`no "messages"`)
		}
		messages = f.Messages
		if f.AddGenerationPrompt != nil {
			opts.AddGenerationPrompt = *f.AddGenerationPrompt
		}
		opts.EnableThinking = f.EnableThinking
		opts.Tools = f.Tools
	default:
		return nil, opts, errors.New("want a JSON messages array or an object with \"messages\"")
	}
	return messages, opts, nil
}

// loadTokenizer loads the tokenizer of --tokenizer if given, else of
// --model. A local directory is used as is; a repo id is fetched from the
// Hugging Face Hub (or its cache), with download progress on progress:
// only the tokenizer files for --tokenizer, the whole model for --model.
func loadTokenizer(ctx context.Context, model, tokDir string, progress io.Writer) (*tokenizer.Tokenizer, error) {
	switch {
	case tokDir != "":
		dir, err := resolveTokenizer(ctx, tokDir)
		if err != nil {
			return nil, fmt.Errorf("--tokenizer: %w", err)
		}
		return loadTokenizerDir(dir, "--tokenizer")
	case model != "":
		dir, err := resolveModel(ctx, model, progress)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(model, qwen3.RandomPrefix) {
			return nil, noTokenizerError(model, "this command", "")
		}
		return loadTokenizerDir(dir, "--model")
	default:
		return nil, fmt.Errorf("%w: pass --model DIR|REPO or --tokenizer DIR|REPO", errMissingModel)
	}
}

// errMissingModel reports a tokenize/detokenize call with no model.
var errMissingModel = errors.New("no model given")

func loadTokenizerDir(dir, flagName string) (*tokenizer.Tokenizer, error) {
	if isGGUFPath(dir) {
		return loadGGUFTokenizer(dir, flagName)
	}
	tok, err := tokenizer.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s %s has no %s: %w", flagName, dir, tokenizer.TokenizerFile, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flagName, dir, err)
	}
	return tok, nil
}

// resolveTokenizer returns a directory holding tokenizer.json: arg itself if
// it is a directory, else the Hub snapshot of repo id arg ("Org/Name" or
// "Org/Name@revision") with tokenizer.json and, if the repo has it,
// tokenizer_config.json downloaded into the standard cache. A .gguf file is
// returned as is (loadTokenizerDir reads its tokenizer).
func resolveTokenizer(ctx context.Context, arg string) (string, error) {
	if st, err := os.Stat(arg); err == nil {
		if !st.IsDir() && isGGUFPath(arg) {
			return arg, nil
		}
		if !st.IsDir() {
			return "", fmt.Errorf("%s is a file; want a directory holding %s", arg, tokenizer.TokenizerFile)
		}
		return arg, nil
	}
	repo, rev, _ := strings.Cut(arg, "@")
	c := hub.NewClientFromEnv()
	path, err := c.Download(ctx, repo, rev, tokenizer.TokenizerFile)
	switch {
	case err == nil:
	case errors.Is(err, hub.ErrNotFound), errors.Is(err, hub.ErrUnauthorized), errors.Is(err, hub.ErrNotCached), errors.Is(err, hub.ErrInvalidName):
		return "", fmt.Errorf("%s: no such directory, and not on the Hub: %w", arg, err)
	default:
		// The repository was found; fetching from it failed (a checksum,
		// a stalled transfer, a full disk).
		return "", fmt.Errorf("%s: downloading %s from the Hub: %w", arg, tokenizer.TokenizerFile, err)
	}
	// The snapshot folder is named by the commit the revision resolved to;
	// asking for that commit keeps both files from the same snapshot.
	snap := filepath.Dir(path)
	if _, err := c.Download(ctx, repo, filepath.Base(snap), tokenizer.TokenizerConfigFile); err != nil &&
		!errors.Is(err, hub.ErrEntryNotFound) && !errors.Is(err, hub.ErrNotCached) {
		return "", err
	}
	return snap, nil
}

// readFileOrStdin reads a file, or stdin for "-", of at most max bytes.
func readFileOrStdin(name string, max int64) ([]byte, error) {
	if name == "-" {
		return readAllLimited(os.Stdin, max, "stdin")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimited(f, max, name)
}

// errInputTooLarge is wrapped when a file or stdin is larger than the
// command accepts.
var errInputTooLarge = errors.New("input too large")

// readAllLimited reads r to its end, failing as soon as more than max bytes
// have come, so that no input makes the command allocate without bound.
// what names the input in the error.
func readAllLimited(r io.Reader, max int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is more than %d bytes, the most this command reads: %w", what, max, errInputTooLarge)
	}
	return data, nil
}

// parseCommandFlags parses args, turning a bad flag into errUsage (the flag
// package has printed why) and refusing positional arguments.
func parseCommandFlags(fl *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		return commandUsageError(fl, stderr, fmt.Sprintf("unexpected argument %q", fl.Arg(0)))
	}
	return nil
}

func commandUsageError(fl *flag.FlagSet, stderr io.Writer, msg string) error {
	fmt.Fprintf(stderr, "%s: %s\n", fl.Name(), msg)
	fl.Usage()
	return errUsage
}

func isFlagSet(fl *flag.FlagSet, name string) bool {
	set := false
	fl.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// writeJSONLine prints v as one line of JSON, leaving <, > and & unescaped so
// special tokens stay readable.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func formatIDs(ids []int32) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(int64(id), 10))
	}
	return b.String()
}

// idsOrEmpty makes an empty result print as [] rather than null.
func idsOrEmpty(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}
