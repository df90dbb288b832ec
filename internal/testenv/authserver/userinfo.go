package authserver

import (
	"net/http"
	"strings"
)

// userinfo serves the Profile to a bearer of a valid access token
// (OpenID Connect Core section 5.3, errors per RFC 6750 section 3).
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		// RFC 6750 section 3.1: a request without credentials gets a
		// challenge without an error code.
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "Missing Bearer access token.")
		return
	}
	if !s.Valid(tok) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="invalid_token", error_description="The access token is invalid, revoked or expired"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, revoked or expired.")
		return
	}
	writeRaw(w, http.StatusOK, jsonContentType, s.profile)
}
