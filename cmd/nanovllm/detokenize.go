package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

const detokenizeUsage = `Usage: nanovllm detokenize (--model M | --tokenizer T) [--ids 1,2,3] [--skip-special-tokens] [--json]

Decodes token ids to text, as Hugging Face's tokenizer.decode does: bytes
that are not valid UTF-8 become U+FFFD, and ids the tokenizer does not have
(Qwen3's padding ids 151669-151935) are dropped with a warning. The ids come
from --ids or stdin, separated by commas and/or white space; a JSON array
such as 'nanovllm tokenize --json' prints is accepted too.

Output: the text as is, or with --json {"text": "..."}.

Flags:
`

func runDetokenize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("detokenize", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(stderr, detokenizeUsage)
		fl.PrintDefaults()
	}
	model := fl.String("model", "", "model `DIR` or Hugging Face repo id (Org/Name[@revision])")
	tokDir := fl.String("tokenizer", "", "tokenizer `DIR` or repo id, if not the model's")
	idsFlag := fl.String("ids", "", "token `IDS`, e.g. 9707,11,1879 (default: read stdin)")
	skip := fl.Bool("skip-special-tokens", false, "leave out special tokens such as <|im_end|>")
	asJSON := fl.Bool("json", false, "print JSON")
	if err := parseCommandFlags(fl, args, stderr); err != nil {
		return err
	}

	src := *idsFlag
	if !isFlagSet(fl, "ids") {
		data, err := readAllLimited(os.Stdin, maxIDsInput, "the ids on stdin")
		if err != nil {
			return err
		}
		src = string(data)
	}
	ids, err := parseTokenIDs(src)
	if err != nil {
		return err
	}

	tok, err := loadTokenizer(ctx, *model, *tokDir, stderr)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, ok := tok.IDToToken(id); !ok {
			fmt.Fprintf(stderr, "warning: id %d is not in the tokenizer (vocabulary size %d); it is dropped\n", id, tok.VocabSize())
		}
	}
	text := tok.Decode(ids, *skip)
	if *asJSON {
		return writeJSONLine(stdout, struct {
			Text string `json:"text"`
		}{text})
	}
	_, err = io.WriteString(stdout, text)
	return err
}

// maxIDsInput is the most detokenize reads from stdin: room for some eight
// million ids.
const maxIDsInput = 64 << 20

// parseTokenIDs reads token ids separated by commas and/or white space, or a
// JSON array of them, or a {"ids": [...]} object as tokenize --json prints.
// Between two commas there must be an id: "1,,2" is refused, as
// generate's --prompt-ids refuses it.
func parseTokenIDs(s string) ([]int32, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var obj struct {
			IDs json.RawMessage `json:"ids"`
		}
		if err := json.Unmarshal([]byte(s), &obj); err != nil || obj.IDs == nil {
			return nil, fmt.Errorf("ids: want a list of ids or {\"ids\": [...]}")
		}
		s = string(obj.IDs)
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	var ids []int32
	parts := strings.Split(s, ",")
	for _, part := range parts {
		fields := strings.Fields(part)
		if len(fields) == 0 && len(parts) > 1 {
			return nil, fmt.Errorf("ids: item %d is empty (two commas with no id between them, or a comma at an end)", len(ids)+1)
		}
		for _, f := range fields {
			v, err := strconv.ParseInt(f, 10, 32)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("ids: item %d %q is not a token id (a non-negative integer)", len(ids)+1, f)
			}
			ids = append(ids, int32(v))
		}
	}
	if ids == nil {
		ids = []int32{}
	}
	return ids, nil
}
