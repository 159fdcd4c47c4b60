package openai

import (
	"crypto/rand"
	"errors"
	"net/http"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// respond ends a completions or chat request once run has returned. ok
// writes the response after a run that succeeded. A failure before a
// stream started is answered as an error response (returned, for api to
// write); once the stream has started, it becomes an error event that ends
// the stream. A client that went away gets nothing.
func (s *Server) respond(r *http.Request, out *sse, err error, promptParam string, ok func() error) error {
	if err == nil {
		if werr := ok(); werr != nil {
			s.opts.Logger.Debug("writing a response failed", "err", werr)
		}
		return nil
	}
	if r.Context().Err() != nil {
		return nil // the client disconnected; its sequences are aborted
	}
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, errSlowClient):
		ae = &apiError{status: http.StatusServiceUnavailable, typ: typeServer, message: err.Error()}
	default:
		ae = engineError(err, promptParam)
	}
	if out == nil || !out.started {
		return ae
	}
	out.fail(ae)
	_ = out.flush()
	return nil
}

// outcome is the error of a sequence's last output, if it failed.
func outcome(o engine.Output) error {
	if !o.Finished {
		return nil
	}
	var ae *apiError
	switch {
	case o.FinishReason != sequence.Error && o.FinishReason != sequence.Aborted:
		return nil
	case errors.As(o.Err, &ae): // the server closing
		return ae
	case o.FinishReason == sequence.Aborted:
		return &apiError{status: http.StatusServiceUnavailable, typ: typeServer, message: "the request was aborted"}
	}
	return &apiError{status: http.StatusInternalServerError, typ: typeServer, message: "generation failed: " + errString(o.Err)}
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// finishReason is OpenAI's name for why a sequence ended well: "length"
// for max_tokens or the context's end, "stop" for a stop token or string.
func finishReason(o engine.Output) string {
	if o.FinishReason == sequence.Length {
		return "length"
	}
	return "stop"
}

// randomID is the unique part of a response id.
func randomID() string { return rand.Text() }

// now is a response's "created" time.
func (s *Server) now() int64 { return time.Now().Unix() }
