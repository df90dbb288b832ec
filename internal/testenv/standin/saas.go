package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// The custom SaaS API: Bearer auth with RFC 6750 challenges, a data
// route that echoes what it was sent, and a paged posts route.

// saasAuth enforces Bearer auth with an RFC 6750 challenge. Per RFC 6750
// section 3.1 the challenge only carries an error code when the client
// actually presented a credential.
func (p *Provider) saasAuth(w http.ResponseWriter, r *http.Request) bool {
	ok, present := p.authorized(r)
	if ok {
		return true
	}
	challenge := fmt.Sprintf("Bearer realm=%q", saasRealm)
	if present {
		challenge += fmt.Sprintf(", error=\"invalid_token\", error_description=%q", saasErrorDescription)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeRaw(w, http.StatusUnauthorized, plainJSON, saasUnauthorizedBody)
	return false
}

func (p *Provider) saasData(w http.ResponseWriter, r *http.Request) {
	if !p.saasAuth(w, r) {
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Could not read request body.")
		return
	}
	if len(raw) > maxBody {
		writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "Request body too large.")
		return
	}

	// A repeated parameter becomes an array; a single one stays a string,
	// which is what most JSON APIs that echo queries do.
	query := make(map[string]any)
	for k, vs := range r.URL.Query() {
		if len(vs) == 1 {
			query[k] = vs[0]
		} else {
			query[k] = vs
		}
	}
	// Non-JSON (or empty) bodies are reported as null rather than as an
	// error, so callers can see exactly what arrived.
	body := json.RawMessage("null")
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && json.Valid(trimmed) {
		body = trimmed
	}
	writeJSON(w, http.StatusOK, plainJSON, struct {
		Items []saasItem      `json:"items"`
		Query map[string]any  `json:"query"`
		Body  json.RawMessage `json:"body"`
	}{saasItems, query, body})
}

func (p *Provider) saasPosts(w http.ResponseWriter, r *http.Request) {
	if !p.saasAuth(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, plainJSON, struct {
		UserID string     `json:"userId"`
		Page   string     `json:"page"`
		Posts  []saasPost `json:"posts"`
	}{r.PathValue("id"), r.URL.Query().Get("page"), saasPosts})
}
