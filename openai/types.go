package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The wire format: OpenAI's request and response bodies, as documented in
// its API reference, with the extensions vLLM accepts (top_k, min_p,
// repetition_penalty, min_tokens, ignore_eos, stop_token_ids,
// include_stop_str_in_output, chat_template_kwargs, return_token_ids).
// Fields not listed are ignored, as OpenAI does.

// samplingRequest holds the fields chat and completions requests share.
type samplingRequest struct {
	Model         string             `json:"model"`
	MaxTokens     *int               `json:"max_tokens"`
	Temperature   *float64           `json:"temperature"`
	TopP          *float64           `json:"top_p"`
	TopK          *int               `json:"top_k"`
	MinP          *float64           `json:"min_p"`
	Presence      *float64           `json:"presence_penalty"`
	Frequency     *float64           `json:"frequency_penalty"`
	Repetition    *float64           `json:"repetition_penalty"`
	Seed          *int64             `json:"seed"`
	Stop          json.RawMessage    `json:"stop"` // a string, a list of strings, or null
	StopTokenIDs  []int32            `json:"stop_token_ids"`
	IncludeStop   bool               `json:"include_stop_str_in_output"`
	N             *int               `json:"n"`
	BestOf        *int               `json:"best_of"`
	IgnoreEOS     bool               `json:"ignore_eos"`
	MinTokens     *int               `json:"min_tokens"`
	Stream        bool               `json:"stream"`
	StreamOptions *streamOptions     `json:"stream_options"`
	LogitBias     map[string]float64 `json:"logit_bias"`
	// ReturnTokenIDs adds the prompt's and each choice's token ids to the
	// response, as vLLM's return_token_ids does.
	ReturnTokenIDs bool `json:"return_token_ids"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatRequest is POST /v1/chat/completions.
type chatRequest struct {
	samplingRequest
	Messages            []json.RawMessage          `json:"messages"`
	MaxCompletionTokens *int                       `json:"max_completion_tokens"`
	Logprobs            *bool                      `json:"logprobs"`
	TopLogprobs         *int                       `json:"top_logprobs"`
	ChatTemplateKwargs  map[string]json.RawMessage `json:"chat_template_kwargs"`
	Tools               json.RawMessage            `json:"tools"`
	ToolChoice          json.RawMessage            `json:"tool_choice"`
	ResponseFormat      *responseFormat            `json:"response_format"`
}

type responseFormat struct {
	Type string `json:"type"`
}

// completionRequest is POST /v1/completions.
type completionRequest struct {
	samplingRequest
	// Prompt is a string, a list of strings, a list of token ids or a list
	// of lists of token ids.
	Prompt   json.RawMessage `json:"prompt"`
	Logprobs *int            `json:"logprobs"`
	Echo     bool            `json:"echo"`
	Suffix   *string         `json:"suffix"`
}

// usage is the token accounting of a response.
type usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     promptTokensDetails      `json:"prompt_tokens_details"`
	CompletionTokensDetails *completionTokensDetails `json:"completion_tokens_details,omitempty"`
}

type promptTokensDetails struct {
	// CachedTokens are the prompt tokens whose KV came from the prefix cache.
	CachedTokens int `json:"cached_tokens"`
}

type completionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// chatCompletion is the non-streaming chat response.
type chatCompletion struct {
	ID             string       `json:"id"`
	Object         string       `json:"object"` // "chat.completion"
	Created        int64        `json:"created"`
	Model          string       `json:"model"`
	Choices        []chatChoice `json:"choices"`
	Usage          usage        `json:"usage"`
	PromptTokenIDs []int32      `json:"prompt_token_ids,omitempty"`
}

type chatChoice struct {
	Index        int           `json:"index"`
	Message      chatMessage   `json:"message"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason string        `json:"finish_reason"`
	TokenIDs     []int32       `json:"token_ids,omitempty"`
}

type chatMessage struct {
	Role             string  `json:"role"`
	Content          *string `json:"content"`
	ReasoningContent *string `json:"reasoning_content,omitempty"`
}

// chatLogprobs is a chat choice's logprobs: one entry per token.
type chatLogprobs struct {
	Content []chatTokenLogprob `json:"content"`
}

type chatTokenLogprob struct {
	Token       string         `json:"token"`
	Logprob     float32        `json:"logprob"`
	Bytes       []int          `json:"bytes"`
	TopLogprobs []chatTopEntry `json:"top_logprobs"`
}

type chatTopEntry struct {
	Token   string  `json:"token"`
	Logprob float32 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// chatChunk is one server-sent event of a streamed chat response.
type chatChunk struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"` // "chat.completion.chunk"
	Created        int64             `json:"created"`
	Model          string            `json:"model"`
	Choices        []chatChunkChoice `json:"choices"`
	Usage          usageField        `json:"usage,omitempty"`
	PromptTokenIDs []int32           `json:"prompt_token_ids,omitempty"`
}

type chatChunkChoice struct {
	Index        int           `json:"index"`
	Delta        chatDelta     `json:"delta"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
	TokenIDs     []int32       `json:"token_ids,omitempty"`
}

type chatDelta struct {
	Role             string  `json:"role,omitempty"`
	Content          *string `json:"content,omitempty"`
	ReasoningContent *string `json:"reasoning_content,omitempty"`
}

// completion is the non-streaming completions response, and with Object
// "text_completion" also each streamed chunk.
type completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"` // "text_completion"
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   usageField         `json:"usage,omitempty"`
}

type completionChoice struct {
	Index          int                 `json:"index"`
	Text           string              `json:"text"`
	Logprobs       *completionLogprobs `json:"logprobs"`
	FinishReason   *string             `json:"finish_reason"`
	PromptTokenIDs []int32             `json:"prompt_token_ids,omitempty"`
	TokenIDs       []int32             `json:"token_ids,omitempty"`
}

// completionLogprobs is the legacy logprobs format of /v1/completions.
type completionLogprobs struct {
	Tokens        []string     `json:"tokens"`
	TokenLogprobs []float32    `json:"token_logprobs"`
	TopLogprobs   []orderedTop `json:"top_logprobs"`
	TextOffset    []int        `json:"text_offset"`
}

// orderedTop is one token's top_logprobs object {"token": logprob, ...},
// most likely first. A map would lose that order.
type orderedTop []chatTopEntry

// MarshalJSON writes the entries as one object in order. A token string
// that repeats keeps its first (most likely) entry.
func (o orderedTop) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := make(map[string]bool, len(o))
	for _, e := range o {
		if seen[e.Token] {
			continue
		}
		seen[e.Token] = true
		if len(seen) > 1 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(e.Token)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(strconv.FormatFloat(float64(e.Logprob), 'g', -1, 32))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// usageField is a streamed chunk's usage: left out (nil) unless the client
// asked for usage, then null on every chunk but the last, as OpenAI does.
// A typed nil *usage in it marshals as null; a nil interface is omitted.
type usageField any

// modelList is GET /v1/models.
type modelList struct {
	Object string      `json:"object"` // "list"
	Data   []modelCard `json:"data"`
}

type modelCard struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // "model"
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// MaxModelLen is the longest prompt plus completion, in tokens (a
	// vLLM extension).
	MaxModelLen int `json:"max_model_len"`
}
