package openai

import (
	"encoding/json"
	"net/http"
	"time"
)

// sse writes a response as server-sent events the way OpenAI streams:
// every event is one line "data: JSON" and a blank line, and the stream
// ends with "data: [DONE]". Events are buffered and sent by flush, so that
// the outputs of one engine step go out in one write.
type sse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
	started bool
}

func newSSE(w http.ResponseWriter, timeout time.Duration) *sse {
	return &sse{w: w, rc: http.NewResponseController(w), timeout: timeout}
}

// event queues v as one event.
func (s *sse) event(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.buf = append(s.buf, "data: "...)
	s.buf = append(s.buf, data...)
	s.buf = append(s.buf, "\n\n"...)
	return nil
}

// done queues the end of the stream.
func (s *sse) done() { s.buf = append(s.buf, "data: [DONE]\n\n"...) }

// fail queues err as an error event and ends the stream: once the status
// line is out, that is how an OpenAI stream reports a failure.
func (s *sse) fail(err error) {
	var body errorBody
	if ae, ok := err.(*apiError); ok {
		body = ae.body()
	} else {
		body = errorBody{Error: errorObject{Message: err.Error(), Type: typeServer}}
	}
	_ = s.event(body)
	s.done()
}

// flush sends what is queued, the headers first on the first call. Each
// write must finish within the timeout, so a client that stops reading
// fails the stream instead of holding its handler forever.
func (s *sse) flush() error {
	if !s.started {
		h := s.w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
	if len(s.buf) > 0 {
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
		_, err := s.w.Write(s.buf)
		s.buf = s.buf[:0]
		if err != nil {
			return err
		}
	}
	return s.rc.Flush()
}
