package standin

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// Writing answers: pre-encoded and JSON bodies, and RFC 6749 errors,
// which the SaaS API and both token endpoints send.

// writeRaw writes a pre-encoded body.
func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// writeJSON encodes v compactly (no trailing newline, like the real APIs).
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// All values passed here are plain structs/maps; failure is a bug.
		http.Error(w, "standin: encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeRaw(w, status, contentType, string(b))
}

// writeOAuthError writes an RFC 6749 section 5.2 error body.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, plainJSON, struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}{code, description})
}
