package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
	"github.com/stretchr/testify/require"
)

// The fixtures are tiny random-weight Qwen3 models: qwen3-tiny-vocab has
// Qwen3's real vocabulary, tokenizer and chat template; qwen3-tiny has a
// 512-token vocabulary and no tokenizer.
const testdata = "../testdata"

const (
	vocabFixture = "qwen3-tiny-vocab"
	idsFixture   = "qwen3-tiny"
	modelName    = "test/qwen3-tiny"
)

// fixture is a model loaded with its own engine.
type fixture struct {
	model *qwen3.Model
	tok   *tokenizer.Tokenizer
	eng   *engine.Engine
}

// testEngineConfig is a small pool (40 blocks of 16 tokens) and the
// fixtures' 512-token context.
func testEngineConfig() engine.Config {
	return engine.Config{
		Cache:     block.Config{BlockSize: 16, NumBlocks: 40, PrefixCaching: true},
		Scheduler: scheduler.Config{MaxSeqs: 16, MaxBatchedTokens: 256, MaxModelLen: 512},
	}
}

// loadFixture loads a fixture model and builds an engine over it; every
// call loads its own copy, since an engine owns its model's KV cache.
func loadFixture(t testing.TB, name string, cfg engine.Config) fixture {
	t.Helper()
	dev := cpu.New(cpu.Options{Threads: 2})
	t.Cleanup(func() { dev.Close() })
	dir := filepath.Join(testdata, name)
	m, err := qwen3.Load(dir, dev, qwen3.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	var tok *tokenizer.Tokenizer
	if name == vocabFixture {
		tok, err = tokenizer.Load(dir)
		require.NoError(t, err)
	}
	e, err := engine.NewQwen3(m, tok, cfg)
	require.NoError(t, err)
	return fixture{model: m, tok: tok, eng: e}
}

// apiServer is a Server over a fixture, listening on loopback.
type apiServer struct {
	fixture
	srv *Server
	url string
}

func startServer(t testing.TB, name string, cfg engine.Config, opts Options) *apiServer {
	t.Helper()
	f := loadFixture(t, name, cfg)
	if opts.ModelName == "" {
		opts.ModelName = modelName
	}
	s, err := New(f.eng, f.tok, opts)
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return &apiServer{fixture: f, srv: s, url: hs.URL}
}

// post sends body as JSON and returns the status and the decoded response.
func (a *apiServer) post(t testing.TB, path string, body any) (int, map[string]any) {
	t.Helper()
	resp := a.do(t, path, body, nil)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out), "body: %s", data)
	return resp.StatusCode, out
}

// do sends body (JSON-encoded unless it is a string or []byte) with
// headers.
func (a *apiServer) do(t testing.TB, path string, body any, headers map[string]string) *http.Response {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		data, err = json.Marshal(body)
		require.NoError(t, err)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, a.url+path, bytes.NewReader(data))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

// stream posts a streaming request and returns its events' data, parsed
// as OpenAI's client libraries parse server-sent events, up to [DONE].
func (a *apiServer) stream(t testing.TB, path string, body any) []map[string]any {
	t.Helper()
	resp := a.do(t, path, body, nil)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"), resp.Header.Get("Content-Type"))
	events, done, err := readEvents(resp.Body)
	require.NoError(t, err)
	require.True(t, done, "the stream must end with data: [DONE]")
	return events
}

// readEvents decodes a server-sent event stream up to [DONE]; see
// eachEvent.
func readEvents(r io.Reader) (events []map[string]any, done bool, err error) {
	done, err = eachEvent(r, func(ev map[string]any) bool {
		events = append(events, ev)
		return true
	})
	return events, done, err
}

// eachEvent decodes a server-sent event stream as the WHATWG spec and
// OpenAI's SDKs do: lines up to a blank line make one event; "data:" lines
// (one optional space after the colon) are joined with newlines; comments
// and other fields are skipped. Each event's data is decoded as JSON and
// handed to fn, until fn returns false or the data is "[DONE]" (done).
func eachEvent(r io.Reader, fn func(map[string]any) bool) (done bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var data []string
	// dispatch hands over the event, and says whether to go on.
	dispatch := func() (bool, error) {
		if data == nil {
			return true, nil
		}
		d := strings.Join(data, "\n")
		data = nil
		if d == "[DONE]" {
			done = true
			return false, nil
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(d), &ev); err != nil {
			return false, err
		}
		return fn(ev), nil
	}
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case line == "":
			if more, err := dispatch(); err != nil || !more {
				return done, err
			}
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			if field == "data" {
				data = append(data, value)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return done, err
	}
	_, err = dispatch()
	return done, err
}

// direct runs one request on the fixture's own engine (not the server),
// alone: the independent expectation for what the API must return.
func direct(t testing.TB, e *engine.Engine, req engine.Request) engine.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.Generate(ctx, []engine.Request{req})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	return res[0]
}

// waitIdle waits until the engine holds no request and no KV block: every
// request has finished and returned its blocks to the pool.
func waitIdle(t testing.TB, e *engine.Engine) {
	t.Helper()
	require.Eventually(t, func() bool {
		st := e.Stats()
		return !e.HasUnfinished() && st.Running == 0 && st.Waiting == 0 && st.Blocks.Used == 0
	}, 10*time.Second, time.Millisecond, "engine not idle: %+v", e.Stats())
}

// ids reads a JSON list of numbers as token ids.
func ids(t testing.TB, v any) []int32 {
	t.Helper()
	list, ok := v.([]any)
	require.True(t, ok, "%v is not a list", v)
	out := make([]int32, len(list))
	for i, x := range list {
		out[i] = int32(x.(float64))
	}
	return out
}

// path digs into decoded JSON: keys for objects, ints for lists.
func path(t testing.TB, v any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			require.True(t, ok, "%v is not an object (looking for %q)", v, k)
			v = m[k]
		case int:
			l, ok := v.([]any)
			require.True(t, ok, "%v is not a list (looking for [%d])", v, k)
			require.Less(t, k, len(l))
			v = l[k]
		}
	}
	return v
}
