package authserver

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// writeOAuthError writes an RFC 6749 section 5.2 error body.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}{code, description})
}

// writeJSON encodes v compactly (no trailing newline, like real servers).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only ExtraTokenFields can fail here; report it as a server
		// error so the test's failure points at the fixture.
		b, _ = json.Marshal(map[string]string{"error": "server_error", "error_description": "encoding response: " + err.Error()})
		status = http.StatusInternalServerError
	}
	writeRaw(w, status, jsonContentType, b)
}

// writeRaw writes a pre-encoded body.
func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
