package standin

import (
	"cmp"
	"net/http"
)

// The RFC 6749 token endpoint (/oauth/token): the refresh_token grant
// with form-encoded bodies and client authentication.

// tokenResponse is the RFC 6749 section 5.1 success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if !p.tokenEndpoint(w, r, "application/x-www-form-urlencoded") {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Malformed request body.")
		return
	}
	// Only the body counts (RFC 6749 section 3.2 requires POST body
	// parameters), so credentials in the query string are ignored.
	form := r.PostForm

	// Client authentication: HTTP Basic or client_id/client_secret in the
	// body (RFC 6749 section 2.3.1). Any non-empty pair is accepted.
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" || secret == "" {
		if basic {
			// Section 5.2: if the client tried the Authorization
			// header, answer 401 with a matching challenge.
			w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
		}
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}

	if gt := form.Get("grant_type"); gt != "refresh_token" {
		if gt == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: grant_type")
			return
		}
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	rt := form.Get("refresh_token")
	if rt == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: refresh_token")
		return
	}

	access, next, valid := p.redeem(rt)
	if !valid {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", tokenInvalidGrantDesc)
		return
	}

	scope := form.Get("scope")
	if scope == "" {
		scope = defaultScope
	}
	p.mu.Lock()
	expiresIn := p.expiresIn
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, plainJSON, tokenResponse{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    cmp.Or(expiresIn, 3599),
		RefreshToken: next,
		Scope:        scope,
	})
}
