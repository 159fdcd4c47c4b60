package openai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// handleChat is POST /v1/chat/completions: the messages rendered with the
// model's chat template, n choices, streamed or not.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) error {
	var req chatRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.checkModel(req.Model); err != nil {
		return err
	}
	if s.tok == nil || !s.tok.HasChatTemplate() {
		return badParam("messages", "this model has no chat template (or no tokenizer), so it cannot chat; use /v1/completions")
	}
	if err := checkChatUnsupported(&req); err != nil {
		return err
	}
	msgs, err := normalizeMessages(req.Messages)
	if err != nil {
		return err
	}
	top := -1 // no logprobs
	switch {
	case req.Logprobs != nil && *req.Logprobs:
		top = 0
		if v := req.TopLogprobs; v != nil {
			if *v < 0 || *v > sampler.MaxLogprobs {
				return badParam("top_logprobs", "top_logprobs %d must be in [0, %d]", *v, sampler.MaxLogprobs)
			}
			top = *v
		}
	case req.TopLogprobs != nil && *req.TopLogprobs != 0:
		return badParam("top_logprobs", "top_logprobs needs logprobs: true")
	}
	maxTokens, maxParam := req.MaxCompletionTokens, "max_completion_tokens"
	if maxTokens == nil {
		maxTokens, maxParam = req.MaxTokens, "max_tokens"
	}
	sp, err := s.parseSampling(&req.samplingRequest, maxTokens, maxParam, top)
	if err != nil {
		return err
	}
	opts := tokenizer.ChatOptions{AddGenerationPrompt: true}
	if raw, ok := req.ChatTemplateKwargs["enable_thinking"]; ok && string(raw) != "null" {
		var think bool
		if err := json.Unmarshal(raw, &think); err != nil {
			return badParam("chat_template_kwargs.enable_thinking", "enable_thinking must be true or false")
		}
		opts.EnableThinking = &think
	}
	text, err := s.tok.ApplyChatTemplateJSON(msgs, opts)
	if err != nil {
		return badParam("messages", "%v", err)
	}
	prompt, err := s.tok.EncodeChecked(text)
	if err != nil {
		return badParam("messages", "%v", err)
	}
	maxLen, err := s.fitContext(len(prompt), sp.maxTokens, "messages", maxParam)
	if err != nil {
		return err
	}

	c := &chatRun{
		s:         s,
		id:        "chatcmpl-" + randomID(),
		created:   s.now(),
		top:       top,
		usage:     sp.usage,
		returnIDs: req.ReturnTokenIDs,
		prompt:    prompt,
		choices:   make([]chatChoiceState, sp.n),
	}
	for i := range c.choices {
		if s.reasoning {
			c.choices[i].split = newThinkSplitter(text)
		}
	}
	limit := 0
	if sp.stream {
		c.out = newSSE(w, s.opts.WriteTimeout)
		limit = s.opts.StreamBuffer
	}
	ctx, done := s.requestContext(r)
	defer done()
	err = s.run(ctx, choices([][]int32{prompt}, []int{maxLen}, sp.params, sp.n), limit, c)
	return s.respond(r, c.out, err, "messages", func() error {
		if c.out != nil {
			return c.finishStream()
		}
		writeJSON(w, http.StatusOK, c.response())
		return nil
	})
}

// checkChatUnsupported rejects what the server cannot do rather than
// silently ignoring it.
func checkChatUnsupported(req *chatRequest) error {
	if len(req.Tools) > 0 && string(req.Tools) != "null" && string(req.Tools) != "[]" {
		return unsupported("tools", "tool calling")
	}
	if tc := strings.TrimSpace(string(req.ToolChoice)); tc != "" && tc != "null" && tc != `"none"` && tc != `"auto"` {
		return unsupported("tool_choice", "tool calling")
	}
	if f := req.ResponseFormat; f != nil && f.Type != "" && f.Type != "text" {
		return unsupported("response_format", fmt.Sprintf("response_format %q", f.Type))
	}
	return nil
}

// normalizeMessages checks OpenAI's messages and puts them in the shape
// chat templates expect: content as one string (text parts joined by
// newlines, null as ""), and the "developer" role as "system". Other fields
// (name, tool_calls, reasoning_content, ...) reach the template as given.
func normalizeMessages(raw []json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, badParam("messages", "messages must be a non-empty list")
	}
	out := make([]map[string]json.RawMessage, len(raw))
	for i, m := range raw {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(m, &obj); err != nil || obj == nil {
			return nil, badParam(fmt.Sprintf("messages[%d]", i), "messages[%d] must be an object", i)
		}
		var role string
		if err := json.Unmarshal(obj["role"], &role); err != nil || role == "" {
			return nil, badParam(fmt.Sprintf("messages[%d].role", i), "messages[%d] needs a role", i)
		}
		switch role {
		case "system", "user", "assistant", "tool":
		case "developer":
			obj["role"] = json.RawMessage(`"system"`)
		default:
			return nil, badParam(fmt.Sprintf("messages[%d].role", i), "messages[%d].role %q must be system, developer, user, assistant or tool", i, role)
		}
		content, err := messageContent(obj["content"], i)
		if err != nil {
			return nil, err
		}
		obj["content"], _ = json.Marshal(content)
		out[i] = obj
	}
	return json.Marshal(out)
}

// messageContent reads a message's content: a string, null, or a list of
// content parts of which only text is supported.
func messageContent(raw json.RawMessage, i int) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	param := fmt.Sprintf("messages[%d].content", i)
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badParam(param, "%s must be a string or a list of content parts", param)
	}
	texts := make([]string, 0, len(parts))
	for k, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", unsupported(fmt.Sprintf("%s[%d]", param, k), fmt.Sprintf("content of type %q (only text is)", p.Type))
		}
		texts = append(texts, *p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// chatChoiceState accumulates one choice of a chat response.
type chatChoiceState struct {
	split              *thinkSplitter // nil: no reasoning parser
	reasoning, content strings.Builder
	reasoningTokens    int
	tokens             []int32
	logprobs           []chatTokenLogprob
	finish             string
	metrics            engine.Metrics
}

// chatRun is the consumer of a chat request: it builds the response, or
// streams it as chunks when out is set.
type chatRun struct {
	s         *Server
	id        string
	created   int64
	top       int // top_logprobs, -1 without logprobs
	usage     bool
	returnIDs bool
	prompt    []int32
	choices   []chatChoiceState
	out       *sse // nil: not streaming
}

func (c *chatRun) chunk(choices ...chatChunkChoice) chatChunk {
	ch := chatChunk{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.s.opts.ModelName, Choices: choices}
	if c.usage {
		ch.Usage = (*usage)(nil) // null until the last chunk
	}
	return ch
}

// begin streams each choice's first chunk, which carries the role.
func (c *chatRun) begin() error {
	if c.out == nil {
		return nil
	}
	for i := range c.choices {
		empty := ""
		ch := c.chunk(chatChunkChoice{Index: i, Delta: chatDelta{Role: "assistant", Content: &empty}})
		if i == 0 && c.returnIDs {
			ch.PromptTokenIDs = c.prompt
		}
		if err := c.out.event(ch); err != nil {
			return err
		}
	}
	return c.out.flush()
}

func (c *chatRun) output(i int, o engine.Output) error {
	if err := outcome(o); err != nil {
		return err
	}
	ch := &c.choices[i]
	ch.metrics = o.Metrics
	ch.tokens = append(ch.tokens, o.TokenIDs...)
	var lps []chatTokenLogprob
	if c.top >= 0 {
		for k, id := range o.TokenIDs {
			if k < len(o.Logprobs) {
				lps = append(lps, c.s.texts.chat(id, o.Logprobs[k], c.top))
			}
		}
		ch.logprobs = append(ch.logprobs, lps...)
	}
	reasoning, content := "", o.Text
	if ch.split != nil {
		var thinking bool
		reasoning, content, thinking = ch.split.push(o.Text)
		if thinking {
			ch.reasoningTokens += len(o.TokenIDs)
		}
		if o.Finished {
			heldReasoning, heldContent := ch.split.flush()
			reasoning += heldReasoning
			content += heldContent
		}
	}
	ch.reasoning.WriteString(reasoning)
	ch.content.WriteString(content)
	if o.Finished {
		ch.finish = finishReason(o)
	}
	if c.out == nil {
		return nil
	}
	if reasoning != "" || content != "" || len(lps) > 0 || (c.returnIDs && len(o.TokenIDs) > 0) {
		d := chatChunkChoice{Index: i}
		if reasoning != "" {
			d.Delta.ReasoningContent = &reasoning
		}
		if content != "" || reasoning == "" {
			d.Delta.Content = &content
		}
		if c.top >= 0 {
			d.Logprobs = &chatLogprobs{Content: lps}
		}
		if c.returnIDs {
			d.TokenIDs = o.TokenIDs
		}
		if err := c.out.event(c.chunk(d)); err != nil {
			return err
		}
	}
	if o.Finished {
		return c.out.event(c.chunk(chatChunkChoice{Index: i, FinishReason: &ch.finish}))
	}
	return nil
}

func (c *chatRun) flush() error {
	if c.out == nil {
		return nil
	}
	return c.out.flush()
}

// finishStream ends a stream: the usage chunk if asked for, then [DONE].
func (c *chatRun) finishStream() error {
	if c.usage {
		ch := c.chunk()
		ch.Choices = []chatChunkChoice{}
		u := c.usageOf()
		ch.Usage = &u
		if err := c.out.event(ch); err != nil {
			return err
		}
	}
	c.out.done()
	return c.out.flush()
}

func (c *chatRun) usageOf() usage {
	u := usage{PromptTokens: len(c.prompt)}
	reasoning := 0
	for i, ch := range c.choices {
		if i == 0 {
			u.PromptTokensDetails.CachedTokens = ch.metrics.CachedTokens
		}
		u.CompletionTokens += ch.metrics.GeneratedTokens
		reasoning += ch.reasoningTokens
	}
	if c.s.reasoning {
		u.CompletionTokensDetails = &completionTokensDetails{ReasoningTokens: reasoning}
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// response is the non-streaming answer.
func (c *chatRun) response() chatCompletion {
	resp := chatCompletion{ID: c.id, Object: "chat.completion", Created: c.created, Model: c.s.opts.ModelName, Usage: c.usageOf()}
	if c.returnIDs {
		resp.PromptTokenIDs = c.prompt
	}
	for i := range c.choices {
		ch := &c.choices[i]
		content := ch.content.String()
		msg := chatMessage{Role: "assistant", Content: &content}
		if ch.split != nil && ch.split.thought() {
			reasoning := ch.reasoning.String()
			msg.ReasoningContent = &reasoning
			if content == "" {
				msg.Content = nil
			}
		}
		choice := chatChoice{Index: i, Message: msg, FinishReason: ch.finish}
		if c.top >= 0 {
			choice.Logprobs = &chatLogprobs{Content: ch.logprobs}
			if choice.Logprobs.Content == nil {
				choice.Logprobs.Content = []chatTokenLogprob{}
			}
		}
		if c.returnIDs {
			choice.TokenIDs = ch.tokens
		}
		resp.Choices = append(resp.Choices, choice)
	}
	return resp
}
