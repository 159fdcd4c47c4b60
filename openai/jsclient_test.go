package openai

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
	"github.com/stretchr/testify/require"
)

// jsClientEnv names a directory holding node_modules/openai (made with
// "npm install openai"); TestOpenAIJSClient runs only when it is set, since
// it needs Node.js and the npm package.
const jsClientEnv = "NANOVLLM_OPENAI_JS"

// TestOpenAIJSClient drives the server with OpenAI's official JavaScript
// SDK (testdata/client.mjs): listing models, chat and completions, streamed
// (for await, and the SDK's stream helper) and not, logprobs, usage, the
// SDK's error classes for a bad value and a bad key, and a client that
// aborts mid-stream. What the SDK returns must be what the engine returns
// run directly.
func TestOpenAIJSClient(t *testing.T) {
	dir := os.Getenv(jsClientEnv)
	if dir == "" {
		t.Skipf("set %s to a directory with node_modules/openai (npm install openai) to run the SDK against the server", jsClientEnv)
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err)
	script, err := os.ReadFile(filepath.Join("testdata", "client.mjs"))
	require.NoError(t, err)
	// ES modules resolve packages from the script's own directory.
	path := filepath.Join(dir, "nanovllm-client-test.mjs")
	require.NoError(t, os.WriteFile(path, script, 0o644))
	t.Cleanup(func() { os.Remove(path) })

	a := startServer(t, vocabFixture, testEngineConfig(), Options{APIKey: "js-key"})
	ref := loadFixture(t, vocabFixture, testEngineConfig())
	cmd := exec.Command(node, path, a.url+"/v1", "js-key", modelName)
	cmd.Dir = dir
	outData, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("node: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err)
	var out struct {
		Models []string `json:"models"`
		Chat   struct {
			Content, Role, Finish string
			Usage                 map[string]any
			Logprobs              []struct {
				Token   string  `json:"token"`
				Logprob float64 `json:"logprob"`
				Top     int     `json:"top"`
			}
		}
		Stream struct {
			Content, Finish string
			Usage           map[string]any
			Chunks          int
		}
		Helper     string
		Completion struct {
			Text, Finish string
			Usage        map[string]any
		}
		CompletionStream string
		BadRequest       map[string]any
		BadKey           map[string]any
		Abort            map[string]any
	}
	require.NoError(t, json.Unmarshal(outData, &out), "%s", outData)

	msgs := []tokenizer.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hello!"}}
	chat := direct(t, ref.eng, engine.Request{Prompt: chatPromptTB(t, ref.tok, msgs), Params: sampler.Params{MaxTokens: 8, Logprobs: 2}})
	comp := direct(t, ref.eng, engine.Request{Prompt: "Once upon a time", Params: sampler.Params{MaxTokens: 6}})

	require.Equal(t, []string{modelName}, out.Models)
	require.Equal(t, chat.Text, out.Chat.Content)
	require.Equal(t, "assistant", out.Chat.Role)
	require.Equal(t, openAIReason(chat.FinishReason), out.Chat.Finish)
	require.EqualValues(t, len(chat.TokenIDs), out.Chat.Usage["completion_tokens"])
	require.Len(t, out.Chat.Logprobs, len(chat.TokenIDs))
	for k, lp := range out.Chat.Logprobs {
		require.Equal(t, ref.tok.Decode(chat.TokenIDs[k:k+1], false), lp.Token)
		require.InDelta(t, chat.Logprobs[k].Logprob, lp.Logprob, 1e-6)
		require.Equal(t, 2, lp.Top)
	}
	require.Equal(t, chat.Text, out.Stream.Content)
	require.Equal(t, out.Chat.Finish, out.Stream.Finish)
	require.Equal(t, out.Chat.Usage["completion_tokens"], out.Stream.Usage["completion_tokens"])
	require.Greater(t, out.Stream.Chunks, 2)
	require.Equal(t, chat.Text, out.Helper)
	require.Equal(t, comp.Text, out.Completion.Text)
	require.Equal(t, openAIReason(comp.FinishReason), out.Completion.Finish)
	require.Equal(t, comp.Text, out.CompletionStream)
	require.Equal(t, map[string]any{"status": 400.0, "param": "temperature", "type": "invalid_request_error", "name": "BadRequestError"}, out.BadRequest)
	require.Equal(t, map[string]any{"status": 401.0, "code": "invalid_api_key", "name": "AuthenticationError"}, out.BadKey)
	require.Equal(t, map[string]any{"seen": 3.0}, out.Abort, "the stream ends where the client aborted it")
	require.Eventually(t, func() bool { return a.eng.Stats().Blocks.Used == 0 && !a.eng.HasUnfinished() }, 10*time.Second, time.Millisecond,
		"the aborted stream's blocks are freed")
}
