package openai

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/stretchr/testify/require"
)

// firstEvent reads a stream up to its first event with a token in it.
func firstTokenEvent(t *testing.T, resp *http.Response) {
	t.Helper()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"token_ids"`) {
			return
		}
	}
	t.Errorf("the stream ended before a token: %v", sc.Err())
}

// TestDisconnectFreesBlocks: a client that goes away mid-stream has its
// request aborted and its KV blocks freed at once: while the model is
// still stuck in the step it was running, not at the next one.
func TestDisconnectFreesBlocks(t *testing.T) {
	ss := startScriptServer(t, nil, 64, 4096, Options{})
	for _, stream := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		body, err := json.Marshal(map[string]any{"prompt": make([]int32, 100), "max_tokens": 3000, "temperature": 0,
			"ignore_eos": true, "stream": stream, "return_token_ids": true})
		require.NoError(t, err)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ss.api.url+"/v1/completions", strings.NewReader(string(body)))
		require.NoError(t, err)

		held := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		done := make(chan error, 1)
		gotToken := make(chan struct{}) // the streaming client has read a token
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				if stream {
					firstTokenEvent(t, resp)
					close(gotToken)
					<-ctx.Done() // connected and reading until the test cancels
				}
				resp.Body.Close()
			}
			done <- err
		}()
		// Steps take a millisecond, as a small model's would; let a few run,
		// then hold the model inside a step.
		ss.model.setGate(func() { time.Sleep(time.Millisecond) })
		from := ss.model.stepsRun()
		require.Eventually(t, func() bool { return ss.model.stepsRun() > from+3 }, 10*time.Second, time.Millisecond)
		ss.model.setGate(func() {
			once.Do(func() { close(held) })
			<-release
		})
		select {
		case <-held:
		case <-time.After(10 * time.Second):
			t.Fatalf("the model never started another step (stream %v, steps %d, %+v)", stream, ss.model.stepsRun(), ss.eng.Stats())
		}
		st := ss.eng.Stats()
		require.Equal(t, 1, st.Running)
		require.Positive(t, st.Blocks.Used)
		if stream {
			// Tokens of the steps before reach the client on their own
			// goroutines; on a loaded machine that can take longer than
			// those steps did. Cancel only once it has one.
			select {
			case <-gotToken:
			case <-time.After(10 * time.Second):
				t.Fatalf("the client never read a token")
			}
		}

		cancel() // the client goes away
		if stream {
			require.NoError(t, <-done)
		} else {
			require.Error(t, <-done)
		}
		require.Eventually(t, func() bool { return ss.eng.Stats().Blocks.Used == 0 }, 5*time.Second, time.Millisecond,
			"the blocks are freed while the model is still in its step")
		require.Equal(t, 0, ss.eng.Stats().Running)
		ss.model.setGate(nil)
		close(release)
		waitIdle(t, ss.eng)
	}
}

// stalled is a consumer whose client stops reading: its first output
// blocks until released, as a write to a full socket would.
type stalled struct {
	release chan struct{}
	once    sync.Once
	outputs int
}

func (c *stalled) begin() error { return nil }
func (c *stalled) flush() error { return nil }
func (c *stalled) output(int, engine.Output) error {
	c.outputs++
	c.once.Do(func() { <-c.release })
	return nil
}

// TestSlowClient: a client that stops reading does not hold up the engine:
// other requests complete meanwhile, and once StreamBuffer outputs wait
// for it, its request is aborted and its blocks are freed.
func TestSlowClient(t *testing.T) {
	ss := startScriptServer(t, nil, 64, 4096, Options{})
	c := &stalled{release: make(chan struct{})}
	seqs := []seqSpec{{prompt: make([]int32, 40), after: -1}}
	seqs[0].params.MaxTokens = 2000
	seqs[0].params.IgnoreEOS = true
	errc := make(chan error, 1)
	go func() { errc <- ss.srv.run(context.Background(), seqs, 8, c) }()

	// Another client is served in full while the first one is stuck.
	status, got := ss.api.post(t, "/v1/completions", map[string]any{"prompt": []int32{1, 2, 3}, "max_tokens": 50, "ignore_eos": true, "temperature": 0})
	require.Equal(t, http.StatusOK, status, "%v", got)
	require.EqualValues(t, 50, path(t, got, "usage", "completion_tokens"))

	// The stuck one is aborted after StreamBuffer outputs, long before its
	// 2000 tokens, and its blocks return to the pool.
	require.Eventually(t, func() bool { return !ss.eng.HasUnfinished() }, 10*time.Second, time.Millisecond)
	require.Zero(t, ss.eng.Stats().Blocks.Used)
	close(c.release)
	require.ErrorIs(t, <-errc, errSlowClient)
	require.LessOrEqual(t, c.outputs, 8+1)
}

// TestModelFailure: a failing model step fails its requests with a 500
// (or, once a stream has started, an error event before [DONE]); the
// server carries on when the model recovers.
func TestModelFailure(t *testing.T) {
	ss := startScriptServer(t, nil, 64, 4096, Options{})
	body := map[string]any{"prompt": []int32{1, 2, 3}, "max_tokens": 5, "ignore_eos": true}
	ss.model.setFail(errModel)
	status, got := ss.api.post(t, "/v1/completions", body)
	require.Equal(t, http.StatusInternalServerError, status)
	requireError(t, got, "server_error", nil)
	require.Contains(t, path(t, got, "error", "message"), errModel.Error())

	body["stream"] = true
	resp := ss.api.do(t, "/v1/completions", body, nil)
	events, done, err := readEvents(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.True(t, done)
	require.NotEmpty(t, events)
	requireError(t, events[len(events)-1], "server_error", nil)

	ss.model.setFail(nil)
	delete(body, "stream")
	status, got = ss.api.post(t, "/v1/completions", body)
	require.Equal(t, http.StatusOK, status, "%v", got)
	waitIdle(t, ss.eng)
}

// TestClose: closing the server ends the streams in flight with an error
// event, frees their blocks, and answers later requests and /health with
// 503.
func TestClose(t *testing.T) {
	ss := startScriptServer(t, nil, 64, 4096, Options{})
	ss.model.setGate(func() { time.Sleep(time.Millisecond) })
	resp := ss.api.do(t, "/v1/completions", map[string]any{"prompt": []int32{1, 2}, "max_tokens": 3000, "ignore_eos": true,
		"stream": true, "return_token_ids": true}, nil)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Eventually(t, func() bool { return ss.eng.Stats().Running == 1 }, 5*time.Second, time.Millisecond)
	ss.srv.Close()
	events, done, err := readEvents(resp.Body)
	require.NoError(t, err)
	require.True(t, done)
	requireError(t, events[len(events)-1], "service_unavailable_error", nil)
	waitIdle(t, ss.eng)

	status, got := ss.api.post(t, "/v1/completions", map[string]any{"prompt": []int32{1}})
	require.Equal(t, http.StatusServiceUnavailable, status)
	requireError(t, got, "service_unavailable_error", nil)
	h, err := http.Get(ss.api.url + "/health")
	require.NoError(t, err)
	h.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, h.StatusCode)
}
