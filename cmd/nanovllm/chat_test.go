package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/sysmem"
	"github.com/stretchr/testify/require"
)

// TestChat drives a conversation with the random-weight, real-vocabulary
// fixture: the replies are gibberish, but the session mechanics are real.
func TestChat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the 151936-token vocabulary model")
	}
	// The first message is long enough to fill a few 16-token KV blocks.
	first := strings.Repeat("Tell me about paged attention and prefix caching. ", 4)
	in := strings.NewReader(first + "\n/think off\nAnd a second question\n/bogus\n/reset\nFresh start\n/exit\nnever read\n")
	var out, errOut bytes.Buffer
	err := chat(context.Background(), []string{
		"--model", "../../testdata/qwen3-tiny-vocab", "--max-tokens", "6", "--temperature", "0", "--threads", "1",
	}, in, &out, &errOut)
	require.NoError(t, err, errOut.String())

	stats := regexp.MustCompile(`\[prompt (\d+) tokens, (\d+) cached; reply (\d+) tokens`).FindAllStringSubmatch(errOut.String(), -1)
	require.Len(t, stats, 3, errOut.String())
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	p1, p2, p3 := num(stats[0][1]), num(stats[1][1]), num(stats[2][1])
	// The second turn's prompt holds the first turn, whose blocks the
	// prefix cache supplies.
	require.Greater(t, p2, p1)
	require.GreaterOrEqual(t, num(stats[1][2]), 32, "second turn reuses the first turn's KV")
	// After /reset the history is gone.
	require.Less(t, p3, p2)
	for _, s := range stats {
		require.Equal(t, 6, num(s[3]))
	}
	o := out.String()
	require.Contains(t, o, "(thinking off)")
	require.Contains(t, o, "unknown command /bogus")
	require.Contains(t, o, "(conversation cleared)")
	require.NotContains(t, o, "never read")
}

func TestChatUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"--model"}, {"--model", "x", "extra"}} {
		var errOut bytes.Buffer
		err := chat(context.Background(), args, strings.NewReader(""), &bytes.Buffer{}, &errOut)
		require.ErrorIs(t, err, errUsage, "%v", args)
	}
	err := chat(context.Background(), []string{"--model", "random:qwen3-0.6b"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "--tokenizer")
	err = chat(context.Background(), []string{"--model", "../../testdata/qwen3-tiny-vocab", "--top-p", "3"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "top_p")
}

// TestChatTokenizerFromHub takes chat's tokenizer from a repo id (served by
// a local fake Hub) rather than the model's directory.
func TestChatTokenizerFromHub(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads the tokenizer from a local server")
	}
	_, srv := newTestHub(t, "Org/Tiny", tinyVocabModel)
	hubEnv(t, srv.URL)
	in := strings.NewReader("Hello there\n/exit\n")
	var out, errOut bytes.Buffer
	err := chat(context.Background(), []string{
		"--model", tinyVocabModel, "--tokenizer", "Org/Tiny", "--max-tokens", "3", "--temperature", "0", "--threads", "1",
	}, in, &out, &errOut)
	require.NoError(t, err, errOut.String())
	require.Regexp(t, `reply 3 tokens`, errOut.String())

	// A repo id that the Hub does not have is an error naming the flag.
	err = chat(context.Background(), []string{"--model", tinyVocabModel, "--tokenizer", "Org/Missing"},
		strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "--tokenizer")
}

// TestChatSizeLimits: chat checks its sizes as generate does, before
// loading anything (--threads -1 used to be accepted).
func TestChatSizeLimits(t *testing.T) {
	if _, ok := sysmem.Available(); !ok {
		t.Skip("the machine's available memory is unknown here")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--threads", "-1"}, "--threads -1: want 0 (all CPUs) up to 1024"},
		{[]string{"--threads", "1000000"}, "--threads 1000000"},
		{[]string{"--kv-cache-mib", "100000000"}, "--kv-cache-mib 100000000 (the KV cache) needs 95.4 TiB"},
		{[]string{"--kv-cache-mib", "9223372036854775807"}, "is above the limit of 1073741824 MiB"},
		{[]string{"--kv-cache-mib", "-5"}, "--kv-cache-mib -5 is negative"},
		{[]string{"--kv-cache-mib", "0"}, "chat needs a KV cache"},
		{[]string{"--max-model-len", "0"}, "--max-model-len 0: want a length from 1 to 16777216"},
	} {
		err := chat(context.Background(), append([]string{"--model", "no/such/model"}, tc.args...), strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
		require.ErrorContains(t, err, tc.want, tc.args)
	}
}

func TestReadChatLine(t *testing.T) {
	long := strings.Repeat("x", 300)
	br := bufio.NewReaderSize(strings.NewReader("short\r\n"+long+"\nok\n"+long+"\n\nlast"), 16)
	var got []chatLine
	for {
		l, err := readChatLine(br, 100)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, l)
	}
	require.Equal(t, []chatLine{{text: "short"}, {tooLong: true}, {text: "ok"}, {tooLong: true}, {text: ""}, {text: "last"}}, got)
}

// TestChatLongLine sends a message over the line limit: it is refused with
// a notice, and the session goes on (it used to end).
func TestChatLongLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the 151936-token vocabulary model")
	}
	in := strings.NewReader(strings.Repeat("x", maxChatLine+1) + "\n/think off\n/exit\n")
	var out, errOut bytes.Buffer
	err := chat(context.Background(), []string{"--model", tinyVocabModel, "--max-tokens", "2", "--threads", "1"}, in, &out, &errOut)
	require.NoError(t, err, errOut.String())
	require.Contains(t, out.String(), "error: the message is longer than 1048576 bytes; it was not sent")
	require.Contains(t, out.String(), "(thinking off)", "the session went on")
}
