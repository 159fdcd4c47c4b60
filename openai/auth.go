package openai

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authorized reports whether r carries the API key, if the server has one,
// as "Authorization: Bearer KEY". Both sides are hashed first, so the
// comparison takes the same time whatever the key's length and contents.
func (s *Server) authorized(r *http.Request) bool {
	if s.keyHash == nil {
		return true
	}
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return subtle.ConstantTimeCompare(got[:], s.keyHash[:]) == 1
}
