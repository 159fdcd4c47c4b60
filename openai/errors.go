package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
)

// ErrInvalidOptions reports Options that New cannot serve with; the message
// names the field.
var ErrInvalidOptions = errors.New("invalid server options")

// The error types of OpenAI's error object.
const (
	typeInvalidRequest = "invalid_request_error"
	typeNotFound       = "not_found_error"
	typeServer         = "server_error"
	typeUnavailable    = "service_unavailable_error"
)

// apiError is an error answered with OpenAI's error object:
//
//	{"error": {"message": "...", "type": "invalid_request_error", "param": "top_p", "code": null}}
type apiError struct {
	status  int
	message string
	typ     string
	param   string // "" is null
	code    string // "" is null
}

func (e *apiError) Error() string {
	if e.param != "" {
		return e.param + ": " + e.message
	}
	return e.message
}

// badParam is a 400 naming the request field at fault.
func badParam(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...), typ: typeInvalidRequest, param: param}
}

// unsupported is a 400 for a field this server knows but cannot honour.
func unsupported(param, what string) *apiError {
	return badParam(param, "%s is not supported by this server", what)
}

// errorBody is the JSON form of apiError.
type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) body() errorBody {
	b := errorBody{Error: errorObject{Message: e.message, Type: e.typ}}
	if e.param != "" {
		b.Error.Param = &e.param
	}
	if e.code != "" {
		b.Error.Code = &e.code
	}
	return b
}

// writeError answers with err's status and error object. Errors that are
// not an *apiError are internal: 500, with the message.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, message: err.Error(), typ: typeServer}
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="nanovllm"`)
	}
	writeJSON(w, ae.status, ae.body())
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(errorBody{Error: errorObject{Message: "encoding the response: " + err.Error(), Type: typeServer}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// engineError turns an error of engine.AddRequest into the API's answer:
// what is wrong with the request is a 400 naming the field when it can
// (promptParam is "prompt" or "messages"); anything else is a 500.
func engineError(err error, promptParam string) *apiError {
	switch {
	case errors.Is(err, sampler.ErrInvalidParams):
		return badParam(samplerParam(err), "%s", strings.TrimPrefix(err.Error(), "engine: "))
	case errors.Is(err, engine.ErrPromptTooLong), errors.Is(err, engine.ErrOutOfBlocks):
		return badParam(promptParam, "%s", strings.TrimPrefix(err.Error(), "engine: "))
	case errors.Is(err, engine.ErrInvalidRequest):
		param := promptParam
		switch {
		case strings.Contains(err.Error(), "stop_token_ids"):
			param = "stop_token_ids"
		case strings.Contains(err.Error(), "stop strings"):
			param = "stop"
		}
		return badParam(param, "%s", strings.TrimPrefix(err.Error(), "engine: "))
	}
	return &apiError{status: http.StatusInternalServerError, message: err.Error(), typ: typeServer}
}

// samplerParam is the field a sampler.ErrInvalidParams message starts with
// ("...: top_p 3 must be in [0, 1]"), which is the API's name for it.
func samplerParam(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, sampler.ErrInvalidParams.Error()+": "); i >= 0 {
		msg = msg[i+len(sampler.ErrInvalidParams.Error())+2:]
	}
	if end := strings.IndexAny(msg, " ["); end > 0 {
		return msg[:end]
	}
	return ""
}
