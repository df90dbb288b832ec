package authserver

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The browser-facing half: GET /authorize validates the request and shows
// the consent page, POST /authorize/decision redirects back with a code or
// an error.

// param returns the name the authorization request uses for the RFC
// parameter name.
func (s *Server) param(name string) string {
	if n, ok := s.cfg.ParamNames[name]; ok && n != "" {
		return n
	}
	return name
}

// authParams are the authorization request parameters the server reads,
// by their RFC names.
var authParams = []string{
	"client_id", "response_type", "redirect_uri", "scope", "state",
	"code_challenge", "code_challenge_method", "nonce",
}

// authorize validates an authorization request and renders the consent
// page. Every error is an HTML page, never a redirect: redirecting errors
// is only safe once redirect_uri is validated, and real servers enforcing
// PKCE (Google, for one) answer those with an error page as well.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.authReqs = append(s.authReqs, cloneValues(q))
	s.mu.Unlock()

	p := make(map[string]string, len(authParams))
	for _, name := range authParams {
		wire := s.param(name)
		// RFC 6749 section 3.1: parameters must not be repeated; a
		// repeated one is ambiguous, so refuse rather than pick one.
		if len(q[wire]) > 1 {
			errorPage(w, http.StatusBadRequest, "invalid_request", "Duplicate parameter: "+wire)
			return
		}
		p[name] = q.Get(wire)
	}
	missing := func(name string) {
		errorPage(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: "+s.param(name))
	}

	// client_id and redirect_uri first: until both are known good, nothing
	// may be sent to redirect_uri.
	switch {
	case p["client_id"] == "":
		missing("client_id")
		return
	case p["client_id"] != s.cfg.ClientID:
		errorPage(w, http.StatusBadRequest, "invalid_client", "The OAuth client was not found.")
		return
	case p["redirect_uri"] == "":
		missing("redirect_uri")
		return
	case !validRedirectURI(p["redirect_uri"]):
		errorPage(w, http.StatusBadRequest, "invalid_request", "Invalid "+s.param("redirect_uri")+": it must be an absolute http or https URI without a fragment.")
		return
	case len(s.cfg.RedirectURIs) > 0 && !slices.Contains(s.cfg.RedirectURIs, p["redirect_uri"]):
		errorPage(w, http.StatusBadRequest, "invalid_request", "The "+s.param("redirect_uri")+" is not registered for this client.")
		return
	case p["response_type"] == "":
		missing("response_type")
		return
	case p["response_type"] != "code":
		errorPage(w, http.StatusBadRequest, "unsupported_response_type", "Only response_type=code is supported.")
		return
	case p["state"] == "":
		missing("state")
		return
	case p["code_challenge"] == "":
		// PKCE is mandatory here, as OAuth 2.1 and the security BCP
		// (RFC 9700) require of public and confidential clients alike.
		missing("code_challenge")
		return
	case p["code_challenge_method"] == "":
		// RFC 7636 would default to "plain", which defeats PKCE; a
		// server that enforces S256 requires it to be said.
		missing("code_challenge_method")
		return
	case p["code_challenge_method"] != "S256":
		errorPage(w, http.StatusBadRequest, "invalid_request", "Unsupported code_challenge_method: "+p["code_challenge_method"]+" (only S256 is allowed).")
		return
	case !validChallenge(p["code_challenge"]):
		errorPage(w, http.StatusBadRequest, "invalid_request", "Invalid code_challenge: an S256 challenge is 43 base64url characters.")
		return
	}

	ticket := newToken("tx_")
	s.mu.Lock()
	s.pending[ticket] = &pending{
		redirectURI: p["redirect_uri"],
		state:       p["state"],
		scope:       p["scope"],
		nonce:       p["nonce"],
		challenge:   p["code_challenge"],
		expires:     s.cfg.Now().Add(consentTTL),
	}
	s.mu.Unlock()

	scopes := s.splitScope(p["scope"])
	scopeText := strings.Join(scopes, ", ")
	if scopeText == "" {
		scopeText = "your basic account information"
	}
	htmlHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = consentPage.Execute(w, consentData{
		App:       s.cfg.AppName,
		ScopeText: scopeText,
		Scopes:    scopes,
		Action:    decisionAction,
		Ticket:    ticket,
		Field:     ticketField,
		Decision:  decisionField,
		Allow:     decisionAllow,
		Deny:      decisionDeny,
	})
}

// decision handles the consent form: Allow issues a code, Deny the
// access_denied error, both by redirecting to the validated redirect_uri.
func (s *Server) decision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, "invalid_request", "Malformed form.")
		return
	}
	ticket, choice := r.PostForm.Get(ticketField), r.PostForm.Get(decisionField)
	if choice != decisionAllow && choice != decisionDeny {
		errorPage(w, http.StatusBadRequest, "invalid_request", "Choose Allow or Deny.")
		return
	}

	now := s.cfg.Now()
	var code string
	s.mu.Lock()
	p := s.pending[ticket]
	// A ticket is single-use, so a double-submitted form cannot mint two
	// codes for one authorization request.
	delete(s.pending, ticket)
	if p != nil && now.Before(p.expires) && choice == decisionAllow {
		code = newToken("ac_")
		s.codes[code] = &authCode{
			clientID:    s.cfg.ClientID,
			redirectURI: p.redirectURI,
			challenge:   p.challenge,
			scope:       p.scope,
			nonce:       p.nonce,
			expires:     now.Add(codeTTL),
		}
	}
	s.mu.Unlock()
	if p == nil || !now.Before(p.expires) {
		errorPage(w, http.StatusBadRequest, "invalid_request", "This authorization request is unknown, already answered or expired. Start again from the application.")
		return
	}

	v := url.Values{"state": {p.state}}
	if choice == decisionAllow {
		v.Set("code", code)
	} else {
		v.Set("error", "access_denied")
		v.Set("error_description", "The user denied access")
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, appendQuery(p.redirectURI, v), http.StatusFound)
}

// validRedirectURI reports whether u is an absolute http or https URI with
// a host and no fragment (RFC 6749 section 3.1.2).
func validRedirectURI(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") &&
		p.Host != "" && p.Fragment == "" && !strings.Contains(u, "#")
}

// validChallenge reports whether c can be an S256 code challenge: the
// unpadded base64url encoding of a SHA-256 digest (RFC 7636 section 4.2).
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// appendQuery adds v to u's query, keeping u's own query (RFC 6749 section
// 3.1.2 allows one) byte for byte rather than re-encoding it.
func appendQuery(u string, v url.Values) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
		if strings.HasSuffix(u, "?") || strings.HasSuffix(u, "&") {
			sep = ""
		}
	}
	return u + sep + v.Encode()
}
