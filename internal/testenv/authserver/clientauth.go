package authserver

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// clientRequest does what /token and /revoke do first: insist on a POST
// of a form and authenticate the client. It returns the body parameters
// and whether the handler goes on.
func (s *Server) clientRequest(w http.ResponseWriter, r *http.Request, methodMsg string) (url.Values, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", methodMsg)
		return nil, false
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), formContentType) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Content-Type must be "+formContentType+".")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Malformed request body.")
		return nil, false
	}
	// Only the body counts (RFC 6749 section 3.2 requires POST body
	// parameters), so credentials or codes in the query string are
	// ignored, as they would leak into logs.
	form := r.PostForm

	// Client authentication, RFC 6749 section 2.3.1: HTTP Basic with the
	// form-urlencoded id and secret, or both in the body.
	id, secret, basic := r.BasicAuth()
	if basic {
		if form.Has("client_secret") {
			// Section 2.3: a client must not use more than one method.
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Use only one client authentication method.")
			return nil, false
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if fid := form.Get("client_id"); err1 != nil || err2 != nil || (fid != "" && fid != id) {
			id, secret = "", ""
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" || secret == "" || id != s.cfg.ClientID ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) != 1 {
		if basic {
			// Section 5.2: a client that tried the Authorization
			// header gets 401 with a matching challenge.
			w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
		}
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return nil, false
	}
	return form, true
}
