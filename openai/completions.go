package openai

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
)

// defaultCompletionTokens is max_tokens when a completions request gives
// none, as in OpenAI's API and vLLM.
const defaultCompletionTokens = 16

// handleCompletions is POST /v1/completions: one or more prompts, text or
// token ids, n choices each, streamed or not.
func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) error {
	var req completionRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.checkModel(req.Model); err != nil {
		return err
	}
	if req.Suffix != nil && *req.Suffix != "" {
		return unsupported("suffix", "suffix (insertion)")
	}
	top := -1
	if v := req.Logprobs; v != nil {
		if *v < 0 || *v > sampler.MaxLogprobs {
			return badParam("logprobs", "logprobs %d must be in [0, %d]", *v, sampler.MaxLogprobs)
		}
		top = *v
		if req.Echo {
			return unsupported("echo", "echo with logprobs (the prompt's logprobs)")
		}
	}
	sp, err := s.parseSampling(&req.samplingRequest, req.MaxTokens, "max_tokens", top)
	if err != nil {
		return err
	}
	prompts, texts, err := s.parsePrompts(req.Prompt)
	if err != nil {
		return err
	}
	if len(prompts)*sp.n > s.opts.MaxSequences {
		return badParam("prompt", "%d prompts with n %d are %d sequences; at most %d are allowed per request",
			len(prompts), sp.n, len(prompts)*sp.n, s.opts.MaxSequences)
	}
	limits := make([]int, len(prompts))
	for i, p := range prompts {
		param := "prompt"
		if len(prompts) > 1 {
			param = "prompt[" + strconv.Itoa(i) + "]"
		}
		want := sp.maxTokens
		if want == 0 {
			// OpenAI's default, shortened when the context ends sooner.
			want = min(defaultCompletionTokens, max(s.maxModelLen-len(p), 1))
		}
		if limits[i], err = s.fitContext(len(p), want, param, "max_tokens"); err != nil {
			return err
		}
	}

	c := &completionRun{
		s:         s,
		id:        "cmpl-" + randomID(),
		created:   s.now(),
		n:         sp.n,
		top:       top,
		usage:     sp.usage,
		returnIDs: req.ReturnTokenIDs,
		prompts:   prompts,
		choices:   make([]completionChoiceState, len(prompts)*sp.n),
	}
	if req.Echo {
		c.echo = texts
	}
	limit := 0
	if sp.stream {
		c.out = newSSE(w, s.opts.WriteTimeout)
		limit = s.opts.StreamBuffer
	}
	ctx, done := s.requestContext(r)
	defer done()
	err = s.run(ctx, choices(prompts, limits, sp.params, sp.n), limit, c)
	return s.respond(r, c.out, err, "prompt", func() error {
		if c.out != nil {
			return c.finishStream()
		}
		writeJSON(w, http.StatusOK, c.response())
		return nil
	})
}

// parsePrompts reads prompt: a string, a list of strings, a list of token
// ids, or a list of lists of token ids. It returns each prompt's ids and
// text (decoded from the ids when given as ids, for echo).
func (s *Server) parsePrompts(raw json.RawMessage) ([][]int32, []string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, badParam("prompt", "prompt is required")
	}
	var texts []string
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		texts = []string{one}
	} else if err := json.Unmarshal(raw, &texts); err != nil {
		texts = nil
	}
	if texts != nil {
		if s.tok == nil {
			return nil, nil, badParam("prompt", "this model has no tokenizer: give the prompt as token ids")
		}
		if len(texts) == 0 {
			return nil, nil, badParam("prompt", "prompt must not be an empty list")
		}
		ids := make([][]int32, len(texts))
		for i, t := range texts {
			var err error
			if ids[i], err = s.tok.EncodeChecked(t); err != nil {
				return nil, nil, badParam("prompt", "prompt %d: %v", i, err)
			}
			if len(ids[i]) == 0 {
				return nil, nil, badParam("prompt", "prompt %d is empty", i)
			}
		}
		return ids, texts, nil
	}
	var ids [][]int32
	var flat []int32
	if err := json.Unmarshal(raw, &flat); err == nil {
		ids = [][]int32{flat}
	} else if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, nil, badParam("prompt", "prompt must be a string, a list of strings, a list of token ids or a list of lists of token ids")
	}
	if len(ids) == 0 {
		return nil, nil, badParam("prompt", "prompt must not be an empty list")
	}
	texts = make([]string, len(ids))
	for i, p := range ids {
		if len(p) == 0 {
			return nil, nil, badParam("prompt", "prompt %d is empty", i)
		}
		if s.tok != nil {
			texts[i] = s.tok.Decode(p, true)
		}
	}
	return ids, texts, nil
}

// completionChoiceState accumulates one choice of a completions response.
type completionChoiceState struct {
	text     strings.Builder
	chars    int // characters of text so far, for text_offset
	tokens   []int32
	logprobs completionLogprobs
	finish   string
	metrics  engine.Metrics
}

// completionRun is the consumer of a completions request: choice i*n+j is
// choice j of prompt i.
type completionRun struct {
	s         *Server
	id        string
	created   int64
	n         int
	top       int // logprobs, -1 without
	usage     bool
	returnIDs bool
	prompts   [][]int32
	echo      []string // the prompts' texts, when echoed
	choices   []completionChoiceState
	out       *sse
}

func (c *completionRun) chunk(choices ...completionChoice) completion {
	ch := completion{ID: c.id, Object: "text_completion", Created: c.created, Model: c.s.opts.ModelName, Choices: choices}
	if c.usage {
		ch.Usage = (*usage)(nil)
	}
	return ch
}

// begin starts each choice's text with its prompt when echoing, and sends
// the stream's headers.
func (c *completionRun) begin() error {
	for i := range c.choices {
		if c.echo != nil {
			c.add(i, c.echo[i/c.n])
		}
	}
	if c.out == nil {
		return nil
	}
	for i := range c.choices {
		if c.echo == nil && !c.returnIDs {
			break
		}
		ch := completionChoice{Index: i}
		if c.echo != nil {
			ch.Text = c.echo[i/c.n]
		}
		if c.returnIDs {
			ch.PromptTokenIDs = c.prompts[i/c.n]
		}
		if err := c.out.event(c.chunk(ch)); err != nil {
			return err
		}
	}
	return c.out.flush()
}

func (c *completionRun) add(i int, text string) {
	c.choices[i].text.WriteString(text)
	c.choices[i].chars += utf8.RuneCountInString(text)
}

func (c *completionRun) output(i int, o engine.Output) error {
	if err := outcome(o); err != nil {
		return err
	}
	ch := &c.choices[i]
	ch.metrics = o.Metrics
	ch.tokens = append(ch.tokens, o.TokenIDs...)
	var lps *completionLogprobs
	if c.top >= 0 {
		lps = &completionLogprobs{}
		for k, id := range o.TokenIDs {
			if k < len(o.Logprobs) {
				c.s.texts.completion(lps, id, o.Logprobs[k], c.top, ch.chars)
			}
		}
		ch.logprobs.Tokens = append(ch.logprobs.Tokens, lps.Tokens...)
		ch.logprobs.TokenLogprobs = append(ch.logprobs.TokenLogprobs, lps.TokenLogprobs...)
		ch.logprobs.TopLogprobs = append(ch.logprobs.TopLogprobs, lps.TopLogprobs...)
		ch.logprobs.TextOffset = append(ch.logprobs.TextOffset, lps.TextOffset...)
	}
	c.add(i, o.Text)
	if o.Finished {
		ch.finish = finishReason(o)
	}
	if c.out == nil {
		return nil
	}
	if o.Text != "" || lps != nil && len(lps.Tokens) > 0 || c.returnIDs && len(o.TokenIDs) > 0 {
		d := completionChoice{Index: i, Text: o.Text, Logprobs: lps}
		if c.returnIDs {
			d.TokenIDs = o.TokenIDs
		}
		if err := c.out.event(c.chunk(d)); err != nil {
			return err
		}
	}
	if o.Finished {
		return c.out.event(c.chunk(completionChoice{Index: i, FinishReason: &ch.finish}))
	}
	return nil
}

func (c *completionRun) flush() error {
	if c.out == nil {
		return nil
	}
	return c.out.flush()
}

func (c *completionRun) finishStream() error {
	if c.usage {
		ch := c.chunk()
		ch.Choices = []completionChoice{}
		u := c.usageOf()
		ch.Usage = &u
		if err := c.out.event(ch); err != nil {
			return err
		}
	}
	c.out.done()
	return c.out.flush()
}

// usageOf counts each prompt once, with the prefix-cache hits of its first
// choice, and every choice's completion.
func (c *completionRun) usageOf() usage {
	var u usage
	for i, p := range c.prompts {
		u.PromptTokens += len(p)
		u.PromptTokensDetails.CachedTokens += c.choices[i*c.n].metrics.CachedTokens
	}
	for _, ch := range c.choices {
		u.CompletionTokens += ch.metrics.GeneratedTokens
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

func (c *completionRun) response() completion {
	resp := completion{ID: c.id, Object: "text_completion", Created: c.created, Model: c.s.opts.ModelName}
	u := c.usageOf()
	resp.Usage = &u
	for i := range c.choices {
		ch := &c.choices[i]
		choice := completionChoice{Index: i, Text: ch.text.String(), FinishReason: &ch.finish}
		if c.top >= 0 {
			lp := ch.logprobs
			if lp.Tokens == nil {
				lp = completionLogprobs{Tokens: []string{}, TokenLogprobs: []float32{}, TopLogprobs: []orderedTop{}, TextOffset: []int{}}
			}
			choice.Logprobs = &lp
		}
		if c.returnIDs {
			choice.PromptTokenIDs = c.prompts[i/c.n]
			choice.TokenIDs = ch.tokens
		}
		resp.Choices = append(resp.Choices, choice)
	}
	return resp
}
