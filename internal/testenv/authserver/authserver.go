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
//
// authserver.go holds the Config, the Server and its state; each endpoint
// has a file of its own (authorize.go, token.go, userinfo.go, revoke.go),
// and consent.go is the browser side: it answers the consent page the way
// a user would.
package authserver

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
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

// compile-time check that Server is a handler.
var _ http.Handler = (*Server)(nil)
