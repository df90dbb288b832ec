// Package authserver provides an in-process OAuth 2.0 authorization server
// (RFC 6749 authorization-code grant with PKCE, RFC 7636) that stands in for
// the real identity providers (Google, Microsoft, custom SaaS) an
// administrator connects passports to.
//
// It is the sibling of package standin, which stands in for the APIs: this
// server issues the access tokens, standin accepts them (wire the two with
// Config.Issued). The real providers cannot be reached from tests, so the
// stand-in is deliberately strict in the ways real servers are: PKCE S256 is
// mandatory, codes are single-use, short-lived and bound to the client, the
// redirect URI and the challenge, replaying a code revokes what it produced,
// refresh tokens rotate, and errors use the RFC 6749 section 5.2 shapes.
//
// It also reproduces the knobs of Appspace custom passports: renamed
// authorization parameters (Authentication Params Mapper), extra token
// response fields (Required Authentication Metadata), a nested profile for
// JSONPath extraction, an ID token to take the profile from, and a
// configurable scope separator.
package authserver

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// codeTTL is how long an authorization code stays redeemable. RFC 6749
	// section 4.1.2 recommends at most 10 minutes; real servers use far
	// less, and a short life makes expiry tests meaningful.
	codeTTL = 60 * time.Second
	// consentTTL bounds how long the consent page can sit in a browser
	// before its decision is refused, as a real login transaction expires.
	consentTTL = 10 * time.Minute
	// defaultExpiresIn is the access-token lifetime when Config.ExpiresIn
	// is not set: one hour, as Google and Microsoft issue.
	defaultExpiresIn = 3600
	// maxForm bounds request bodies so a runaway client cannot exhaust
	// memory.
	maxForm = 1 << 20

	formContentType = "application/x-www-form-urlencoded"
	jsonContentType = "application/json"
	htmlContentType = "text/html; charset=utf-8"

	// The consent form's field names. They are the server's own (not
	// subject to ParamNames), like any provider's login UI.
	ticketField    = "request"
	decisionField  = "decision"
	decisionAllow  = "allow"
	decisionDeny   = "deny"
	decisionAction = "authorize/decision"

	// realm is used in WWW-Authenticate challenges.
	realm = "authserver"
)

// Config configures the stand-in authorization server. New copies the
// top level of its maps; values nested inside them must not be modified
// while the server is in use.
type Config struct {
	// ClientID and ClientSecret are the only client the server knows.
	// Both are required at /token and /revoke (confidential client).
	ClientID, ClientSecret string
	// AppName is the application name the consent page shows
	// ("<AppName> wants access to: ..."); default ClientID.
	AppName string
	// RedirectURIs, if non-empty, are the registered redirect URIs: the
	// authorization request's redirect_uri must equal one exactly, as at
	// real providers. Empty accepts any absolute http/https URI.
	RedirectURIs []string
	// ParamNames renames the authorization request's parameters the server
	// expects, e.g. {"client_id": "app_id"}, to test an "Authentication
	// Params Mapper". Unmapped names are the RFC 6749 / RFC 7636 / OpenID
	// ones: client_id, response_type, redirect_uri, scope, state,
	// code_challenge, code_challenge_method, nonce. Only /authorize is
	// affected: the token endpoint always uses the RFC names.
	ParamNames map[string]string
	// ScopeSeparator splits the requested scope into the list the consent
	// page shows and that a refresh request's scope is checked against;
	// default " " (RFC 6749 section 3.3). Some providers use ",".
	ScopeSeparator string
	// Profile is the JSON the /userinfo endpoint returns for the connected
	// user, e.g. {"data": {"mail": "ada@example.com", "uid": 42,
	// "display": "Ada Lovelace"}}. nil serves {}. It is encoded once, by
	// New, which panics if it cannot be encoded.
	Profile map[string]any
	// IDTokenClaims are put in the id_token (HS256, signed with IDTokenKey)
	// of token responses; nil = no id_token. The server adds iss (its own
	// origin as seen in the request), aud (ClientID), iat, exp and, if the
	// authorization request had one, nonce; IDTokenClaims override them,
	// so tests can forge a wrong aud or an expired token.
	IDTokenClaims map[string]any
	// IDTokenKey is the HS256 key for id_token; nil uses ClientSecret, as
	// OpenID Connect Core section 10.1 specifies for HMAC algorithms.
	IDTokenKey []byte
	// ExtraTokenFields are added to the token response (for "Required
	// Authentication Metadata"), e.g. {"tenant_id": "t1"}. They may also
	// override token_type, expires_in and scope, to mimic providers that
	// send e.g. "expires_in" as a string; access_token, refresh_token and
	// id_token are always the server's.
	ExtraTokenFields map[string]any
	// Issued, when set, is called with every access token the server
	// issues, before the token response is written (tests make the API
	// stand-in accept it). It is called without the server's lock held,
	// so it may call back into the Server.
	Issued func(accessToken string)
	// ExpiresIn is the access-token lifetime in seconds; default 3600.
	// Access tokens really expire (by Now): /userinfo and Valid refuse
	// them afterwards.
	ExpiresIn int
	// Now is the clock, so tests can expire codes and tokens without
	// sleeping; default time.Now.
	Now func() time.Time
}

// Server is an http.Handler implementing the authorization server. The zero
// value is not usable; call New. A Server is safe for concurrent use.
//
// Routes:
//
//	GET  /authorize           validate the request, render the consent page
//	POST /authorize/decision  the consent form: redirect with code or error
//	POST /token               authorization_code and refresh_token grants
//	GET  /userinfo            the Profile, for a valid Bearer access token
//	POST /userinfo            same (OpenID Connect Core section 5.3.1)
//	POST /revoke              RFC 7009 token revocation
type Server struct {
	cfg     Config
	profile []byte // cfg.Profile, encoded once
	mux     *http.ServeMux

	mu         sync.Mutex
	pending    map[string]*pending // consent tickets
	codes      map[string]*authCode
	access     map[string]*accessToken
	refresh    map[string]*refreshToken
	authReqs   []url.Values
	tokenCalls int
	revoked    []string
}

// pending is a validated authorization request awaiting the user's
// decision. It is kept server-side, and the consent form carries only an
// opaque ticket for it, so a forged decision POST cannot smuggle in a
// redirect_uri or challenge that /authorize never validated.
type pending struct {
	redirectURI, state, scope, nonce, challenge string
	expires                                     time.Time
}

// authCode is an issued authorization code and what it is bound to.
type authCode struct {
	clientID, redirectURI, challenge, scope, nonce string
	expires                                        time.Time
	// used is set by the first redemption attempt, successful or not, so
	// a code can never be tried twice (e.g. to guess a verifier).
	used bool
	// grant is what the code's successful exchange produced, kept so a
	// replay can revoke it (RFC 6749 section 4.1.2).
	grant *grant
}

// grant is one authorization: every access and refresh token descending
// from one code exchange, through refresh-token rotation.
type grant struct {
	scope, nonce string
	refresh      string   // the current (newest) refresh token
	access       []string // every access token issued, oldest first
}

type accessToken struct {
	grant   *grant
	expires time.Time
	revoked bool
}

type refreshToken struct {
	grant *grant
	// rotated marks a token replaced by a newer one. Presenting it again
	// means two parties hold it, so the whole grant is revoked (RFC 9700
	// section 4.14.2, refresh-token reuse detection).
	rotated bool
	revoked bool
}

// New returns a Server for cfg. It panics if cfg.Profile cannot be encoded
// as JSON, a fixture bug best reported at once.
func New(cfg Config) *Server {
	cfg.ParamNames = maps.Clone(cfg.ParamNames)
	cfg.IDTokenClaims = maps.Clone(cfg.IDTokenClaims)
	cfg.ExtraTokenFields = maps.Clone(cfg.ExtraTokenFields)
	cfg.RedirectURIs = slices.Clone(cfg.RedirectURIs)
	cfg.IDTokenKey = slices.Clone(cfg.IDTokenKey)
	if cfg.AppName == "" {
		cfg.AppName = cfg.ClientID
	}
	if cfg.ScopeSeparator == "" {
		cfg.ScopeSeparator = " "
	}
	if cfg.ExpiresIn <= 0 {
		cfg.ExpiresIn = defaultExpiresIn
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	profile := []byte("{}")
	if cfg.Profile != nil {
		b, err := json.Marshal(cfg.Profile)
		if err != nil {
			panic("authserver: Config.Profile cannot be encoded as JSON: " + err.Error())
		}
		profile = b
	}

	s := &Server{
		cfg:     cfg,
		profile: profile,
		mux:     http.NewServeMux(),
		pending: make(map[string]*pending),
		codes:   make(map[string]*authCode),
		access:  make(map[string]*accessToken),
		refresh: make(map[string]*refreshToken),
	}
	s.mux.HandleFunc("GET /authorize", s.authorize)
	s.mux.HandleFunc("POST /authorize/decision", s.decision)
	// The token and revocation endpoints take every method so that a
	// wrong one gets an RFC-style JSON error, not ServeMux's plain text.
	s.mux.HandleFunc("/token", s.token)
	s.mux.HandleFunc("/revoke", s.revoke)
	s.mux.HandleFunc("GET /userinfo", s.userinfo)
	s.mux.HandleFunc("POST /userinfo", s.userinfo)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// AuthorizeRequests returns the query of every GET /authorize received, in
// order, valid or not, exactly as sent (so tests can check parameter names,
// scope separators and PKCE parameters).
func (s *Server) AuthorizeRequests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]url.Values, len(s.authReqs))
	for i, q := range s.authReqs {
		out[i] = cloneValues(q)
	}
	return out
}

// TokenCalls returns how many requests /token has received, failed ones
// included.
func (s *Server) TokenCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

// Revoked returns the access and refresh tokens revoked so far, in order,
// each once: those named in /revoke requests, followed by the access tokens
// that revoking a refresh token took with it, and every token of a grant
// revoked because its code was replayed or a rotated refresh token was
// reused. Tokens merely superseded by rotation, or expired, are not listed.
func (s *Server) Revoked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.revoked)
}

// Valid reports whether accessToken was issued by the server and is
// neither revoked nor expired.
func (s *Server) Valid(accessToken string) bool {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.access[accessToken]
	return a != nil && !a.revoked && now.Before(a.expires)
}

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

// token is the token endpoint (RFC 6749 section 3.2).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenCalls++
	s.mu.Unlock()
	// RFC 6749 section 5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")

	form, ok := s.clientRequest(w, r, "The token endpoint only accepts POST.")
	if !ok {
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		s.exchangeCode(w, r, form)
	case "refresh_token":
		s.refreshGrant(w, r, form)
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: grant_type")
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type: "+gt)
	}
}

// exchangeCode redeems an authorization code (RFC 6749 section 4.1.3 and
// RFC 7636 section 4.6).
func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request, form url.Values) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	if code == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: code")
		return
	}

	now := s.cfg.Now()
	var (
		g             *grant
		access, rtok  string
		failure       string
		accessExpires time.Time
	)
	s.mu.Lock()
	c := s.codes[code]
	switch {
	case c == nil:
		failure = "The authorization code is invalid."
	case c.used:
		// RFC 6749 section 4.1.2: a code used twice means it leaked;
		// the server should revoke every token issued from it.
		if c.grant != nil {
			s.revokeGrantLocked(c.grant)
		}
		failure = "The authorization code has already been used."
	case !now.Before(c.expires):
		failure = "The authorization code has expired."
	case c.clientID != s.cfg.ClientID:
		failure = "The authorization code was issued to another client."
	case redirectURI != c.redirectURI:
		// Section 4.1.3: required and identical when the authorization
		// request had one, which this server always demands.
		failure = "The redirect_uri does not match the one of the authorization request."
	case verifier == "":
		failure = "Missing code_verifier."
	case !validVerifier(verifier):
		failure = "Invalid code_verifier: it must be 43 to 128 unreserved characters."
	case subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(c.challenge)) != 1:
		failure = "The code_verifier does not match the code_challenge."
	}
	if c != nil {
		c.used = true
	}
	if failure == "" {
		g = &grant{scope: c.scope, nonce: c.nonce}
		c.grant = g
		access, rtok, accessExpires = s.issueLocked(g, now)
	}
	s.mu.Unlock()

	if failure != "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", failure)
		return
	}
	s.writeTokens(w, r, now, access, rtok, accessExpires, g.scope, g.nonce)
}

// refreshGrant redeems a refresh token with rotation (RFC 6749 section 6,
// RFC 9700 section 4.14.2).
func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, form url.Values) {
	rt := form.Get("refresh_token")
	if rt == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: refresh_token")
		return
	}

	now := s.cfg.Now()
	var (
		errCode, failure string
		access, next     string
		scope, nonce     string
		accessExpires    time.Time
	)
	s.mu.Lock()
	old := s.refresh[rt]
	switch {
	case old == nil || old.revoked:
		errCode, failure = "invalid_grant", "The refresh token is invalid or has been revoked."
	case old.rotated:
		// Reuse of a superseded token: either the client lost track of
		// rotation or the token was stolen. Real servers cannot tell
		// which, so they revoke the grant.
		s.revokeGrantLocked(old.grant)
		errCode, failure = "invalid_grant", "The refresh token has already been used."
	default:
		scope = old.grant.scope
		// Section 6: a narrower scope may be asked for, never a wider
		// one; the grant (and so later refreshes) keeps its original.
		if req := form.Get("scope"); req != "" {
			granted := s.splitScope(old.grant.scope)
			for _, sc := range s.splitScope(req) {
				if !slices.Contains(granted, sc) {
					errCode, failure = "invalid_scope", "The requested scope exceeds the granted scope: "+sc
					break
				}
			}
			scope = req
		}
		if failure == "" {
			nonce = old.grant.nonce
			access, next, accessExpires = s.issueLocked(old.grant, now)
		}
	}
	s.mu.Unlock()

	if failure != "" {
		writeOAuthError(w, http.StatusBadRequest, errCode, failure)
		return
	}
	s.writeTokens(w, r, now, access, next, accessExpires, scope, nonce)
}

// issueLocked issues a new access and refresh token for g, superseding its
// previous refresh token. s.mu must be held.
func (s *Server) issueLocked(g *grant, now time.Time) (access, refresh string, expires time.Time) {
	access, refresh = newToken("at_"), newToken("rt_")
	expires = now.Add(time.Duration(s.cfg.ExpiresIn) * time.Second)
	s.access[access] = &accessToken{grant: g, expires: expires}
	g.access = append(g.access, access)
	if prev := s.refresh[g.refresh]; prev != nil {
		prev.rotated = true
	}
	s.refresh[refresh] = &refreshToken{grant: g}
	g.refresh = refresh
	return access, refresh, expires
}

// writeTokens reports access to Config.Issued and writes the token
// response (RFC 6749 section 5.1).
func (s *Server) writeTokens(w http.ResponseWriter, r *http.Request, now time.Time, access, refresh string, accessExpires time.Time, scope, nonce string) {
	resp := map[string]any{
		"token_type": "Bearer",
		"expires_in": s.cfg.ExpiresIn,
	}
	// Section 5.1 makes scope optional when it is what was requested;
	// with nothing requested there is nothing meaningful to send.
	if scope != "" {
		resp["scope"] = scope
	}
	for k, v := range s.cfg.ExtraTokenFields {
		resp[k] = v
	}
	resp["access_token"] = access
	resp["refresh_token"] = refresh
	if s.cfg.IDTokenClaims != nil {
		idToken, err := s.idToken(r, now, accessExpires, nonce)
		if err != nil {
			writeOAuthError(w, http.StatusInternalServerError, "server_error", "Signing the ID token failed: "+err.Error())
			return
		}
		resp["id_token"] = idToken
	}
	if s.cfg.Issued != nil {
		// Before the response, so the token is accepted by the API
		// stand-in by the time the client can use it.
		s.cfg.Issued(access)
	}
	writeJSON(w, http.StatusOK, resp)
}

// idToken signs an OpenID Connect ID token with HS256.
func (s *Server) idToken(r *http.Request, now, expires time.Time, nonce string) (string, error) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	claims := jwt.MapClaims{
		"iss": scheme + "://" + r.Host,
		"aud": s.cfg.ClientID,
		"iat": now.Unix(),
		"exp": expires.Unix(),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	maps.Copy(claims, s.cfg.IDTokenClaims)
	key := s.cfg.IDTokenKey
	if key == nil {
		key = []byte(s.cfg.ClientSecret)
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
}

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

// revoke is the RFC 7009 revocation endpoint.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	form, ok := s.clientRequest(w, r, "The revocation endpoint only accepts POST.")
	if !ok {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: token")
		return
	}
	// token_type_hint is only a hint (section 2.1): both kinds are looked
	// up whatever it says, and an unknown token still gets 200 (section
	// 2.2), so a client cannot probe which tokens exist.
	s.mu.Lock()
	if a := s.access[tok]; a != nil {
		s.revokeAccessLocked(tok, a)
	} else if rt := s.refresh[tok]; rt != nil && !rt.rotated {
		// Section 2.1: revoking a refresh token should also revoke the
		// access tokens of the same grant.
		s.revokeRefreshLocked(tok, rt)
		for _, at := range rt.grant.access {
			s.revokeAccessLocked(at, s.access[at])
		}
	}
	s.mu.Unlock()
	// Section 2.2: the content of a successful response is ignored, so
	// send none.
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// revokeGrantLocked revokes every live token of g. s.mu must be held.
func (s *Server) revokeGrantLocked(g *grant) {
	if rt := s.refresh[g.refresh]; rt != nil {
		s.revokeRefreshLocked(g.refresh, rt)
	}
	for _, at := range g.access {
		s.revokeAccessLocked(at, s.access[at])
	}
}

func (s *Server) revokeAccessLocked(tok string, a *accessToken) {
	if !a.revoked {
		a.revoked = true
		s.revoked = append(s.revoked, tok)
	}
}

func (s *Server) revokeRefreshLocked(tok string, rt *refreshToken) {
	if !rt.revoked {
		rt.revoked = true
		s.revoked = append(s.revoked, tok)
	}
}

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

// splitScope splits a scope string on the configured separator, dropping
// empty items (doubled or trailing separators).
func (s *Server) splitScope(scope string) []string {
	var out []string
	for sc := range strings.SplitSeq(scope, s.cfg.ScopeSeparator) {
		if sc = strings.TrimSpace(sc); sc != "" {
			out = append(out, sc)
		}
	}
	return out
}

// ---- helpers --------------------------------------------------------------

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

// validVerifier reports whether v is a well-formed code verifier: 43 to
// 128 unreserved characters (RFC 7636 section 4.1).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// s256 is the S256 code challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
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

// cloneValues deep-copies v so callers can never mutate recorded state.
func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// newToken returns prefix followed by 32 random bytes, base64url-encoded.
// The prefix tells tokens apart in test failures and logs.
func newToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

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

// htmlHeaders sets the headers of the HTML pages: no caching, and no
// framing, since a consent page inside another site's frame is the
// classic clickjacking target.
func htmlHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", htmlContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
}

// errorPage renders the HTML error page of the browser-facing endpoints.
// The error code and description sit in elements with ids "error" and
// "error_description" so tests can find them.
func errorPage(w http.ResponseWriter, status int, code, description string) {
	htmlHeaders(w)
	w.WriteHeader(status)
	_ = errorTemplate.Execute(w, struct {
		Status            int
		Code, Description string
	}{status, code, description})
}

// consentData fills consentPage.
type consentData struct {
	App, ScopeText                               string
	Scopes                                       []string
	Action, Ticket, Field, Decision, Allow, Deny string
}

// consentPage is the consent screen. The form action is relative so the
// page keeps working when the server is mounted under a path prefix.
var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Authorize {{.App}}</title></head>
<body>
<h1 id="prompt">{{.App}} wants access to: {{.ScopeText}}</h1>
<ul id="scopes">{{range .Scopes}}
<li>{{.}}</li>{{end}}
</ul>
<form method="post" action="{{.Action}}">
<input type="hidden" name="{{.Field}}" value="{{.Ticket}}">
<button type="submit" id="allow" name="{{.Decision}}" value="{{.Allow}}">Allow</button>
<button type="submit" id="deny" name="{{.Decision}}" value="{{.Deny}}">Deny</button>
</form>
</body>
</html>
`))

var errorTemplate = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Error {{.Status}}: {{.Code}}</title></head>
<body>
<h1>Error {{.Status}}: <span id="error">{{.Code}}</span></h1>
<p id="error_description">{{.Description}}</p>
</body>
</html>
`))

// compile-time check that Server is a handler.
var _ http.Handler = (*Server)(nil)
