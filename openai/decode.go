package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// bodyTimeout bounds reading a request body, so a client cannot hold a
// handler by sending it slowly.
const bodyTimeout = 30 * time.Second

// readJSON decodes r's body (at most Options.MaxBodyBytes, applied by api)
// into v. Unknown fields are ignored, as OpenAI does; a field of the wrong
// type is a 400 naming it.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	data, err := io.ReadAll(r.Body)
	_ = rc.SetReadDeadline(time.Time{})
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: typeInvalidRequest,
			message: fmt.Sprintf("the request body is larger than %d bytes", tooLarge.Limit)}
	case err != nil:
		return badParam("", "reading the request body: %v", err)
	}
	if err := tokenizer.CheckJSONDepth(data, tokenizer.MaxJSONDepth); err != nil {
		return badParam("", "%v", err)
	}
	err = json.Unmarshal(data, v)
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr):
		// The path names the embedded struct of the shared fields too.
		field := strings.TrimPrefix(typeErr.Field, "samplingRequest.")
		return badParam(field, "%s must be %s, not %s", field, jsonKind(typeErr.Type), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return badParam("", "the body is not valid JSON: %v (at byte %d)", err, syntaxErr.Offset)
	}
	return badParam("", "the body is not a valid request: %v", err)
}

// jsonKind says in JSON's words what a Go type accepts.
func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}
