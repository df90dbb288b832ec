// Package standin provides an in-process HTTP server that stands in for the
// upstream APIs widgetgate talks to: Google Calendar, Microsoft Graph, a
// custom OAuth-protected SaaS API, an RFC 6749 token endpoint and the
// Appspace API v3 token endpoint.
//
// The real services cannot be reached from tests or the offline demo, so the
// stand-in reproduces their response shapes and, importantly, their distinct
// error formats: code that handles upstream errors must cope with each
// vendor's own 401 body and WWW-Authenticate challenge.
//
// standin.go holds the Provider, its recorded state and its routes; each
// vendor's handlers have a file of their own (google.go, graph.go, saas.go,
// oauthtoken.go, appspace.go, with tokens.go for what the two token
// endpoints share), and fixtures.go the canned data and error bodies.
package standin

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxBody bounds how much of a request body is recorded and how much
// /v1/data will parse, so a runaway client cannot exhaust memory.
const maxBody = 16 << 20

// tokenPath is the OAuth token endpoint. Calls to it are counted rather than
// recorded, so that Requests reflects only API traffic.
const tokenPath = "/oauth/token"

// appspaceTokenPath is the Appspace API v3 token endpoint. Like tokenPath,
// calls to it are counted, not recorded, and it shares the refresh tokens.
const appspaceTokenPath = "/api/v3/authorization/token"

// Request is a snapshot of one request received by the API routes.
type Request struct {
	// Method is the HTTP method.
	Method string
	// URL is r.URL.RequestURI(): the escaped path plus raw query, as
	// received.
	URL string
	// Header is a clone of the request headers.
	Header http.Header
	// Body is the request body (at most 16 MiB of it).
	Body []byte
	// Host is the Host header (r.Host).
	Host string
}

// clone returns a deep copy so callers can never mutate recorded state.
func (q Request) clone() Request {
	q.Header = q.Header.Clone()
	q.Body = bytes.Clone(q.Body)
	return q
}

// Provider is an http.Handler that stands in for Google Calendar, Microsoft
// Graph and a custom OAuth SaaS API. The zero value is not usable; call New.
// A Provider is safe for concurrent use.
type Provider struct {
	mux *http.ServeMux

	mu            sync.Mutex
	tokens        map[string]bool
	refreshTokens map[string]bool
	requests      []Request
	tokenCalls    int
	onToken       func(*http.Request)
	answerDelay   time.Duration
	expiresIn     int      // seconds; 0 means 3599, as Google answers
	refused       int      // redemptions of a refresh token not (or no longer) valid
	seen          []string // Authorization headers /echo/seen received

	// The /stream answer in progress: whether one is being written, and
	// when its last write returned (unix nanos), so a test can see that
	// a reader that stopped reading has blocked the provider's writes.
	streaming   atomic.Bool
	streamWrote atomic.Int64
}

// New returns a Provider with no valid access or refresh tokens.
func New() *Provider {
	p := &Provider{
		mux:           http.NewServeMux(),
		tokens:        make(map[string]bool),
		refreshTokens: make(map[string]bool),
	}
	m := p.mux

	// Google Calendar.
	m.HandleFunc("GET /calendar/v3/calendars/{calendarId}/events", p.googleEvents)

	// Microsoft Graph treats path segments case-insensitively and its docs
	// use both spellings, so accept both.
	m.HandleFunc("GET /v1.0/me/calendarview", p.graphCalendarView)
	m.HandleFunc("GET /v1.0/me/calendarView", p.graphCalendarView)

	// Custom SaaS API.
	m.HandleFunc("GET /v1/data", p.saasData)
	m.HandleFunc("POST /v1/data", p.saasData)
	m.HandleFunc("GET /v1/users/{id}/posts", p.saasPosts)

	// OAuth token endpoint (all methods, so non-POST gets an RFC-style error).
	m.HandleFunc(tokenPath, p.token)
	// Appspace API v3 token endpoint (all methods, for the same reason).
	m.HandleFunc(appspaceTokenPath, p.appspaceToken)

	// Unauthenticated utility routes used to exercise the gateway.
	m.HandleFunc("GET /text", handleText)
	m.HandleFunc("GET /image.png", handleImage)
	m.HandleFunc("GET /status/{code}", handleStatus)
	m.HandleFunc("GET /redirect", handleRedirect)
	m.HandleFunc("GET /redirect/to", handleRedirectTo)
	m.HandleFunc("GET /set-cookie", handleSetCookie)
	m.HandleFunc("/echo", handleEcho)
	m.HandleFunc("/echo/error", handleEcho)
	m.HandleFunc("/echo/malformed", handleEchoMalformed)
	m.HandleFunc("/echo/gzip", handleEchoGzip)
	m.HandleFunc("/echo/status", handleEchoStatus)
	m.HandleFunc("/echo/escaped-malformed", handleEchoEscapedMalformed)
	m.HandleFunc("/echo/seen", p.handleEchoSeen)
	m.HandleFunc("GET /big", handleBig)
	m.HandleFunc("GET /stream", p.handleStream)
	m.HandleFunc("GET /slow", handleSlow)

	// "/" matches every method and path, so it also catches wrong methods
	// on known paths; those get the JSON 404 instead of ServeMux's
	// plain-text 405, as the brief asks.
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeRaw(w, http.StatusNotFound, plainJSON, catchAllNotFoundBody)
	})
	return p
}

// OnToken sets a hook run at the start of every token-endpoint call,
// before the refresh token is checked. Tests use it to make the endpoint
// slow or to hold a redemption until its caller gives up. A call whose
// client has gone away by the time the hook returns rotates nothing, as a
// provider whose transaction never committed.
func (p *Provider) OnToken(hook func(r *http.Request)) {
	p.mu.Lock()
	p.onToken = hook
	p.mu.Unlock()
}

// DelayTokenAnswers makes the token endpoints answer a successful
// redemption d after committing it: the refresh token is already rotated
// when the answer leaves, as at a provider whose database commits before
// a slow response is written. A client that stops waiting loses the new
// refresh token, and the old one is refused from then on.
func (p *Provider) DelayTokenAnswers(d time.Duration) {
	p.mu.Lock()
	p.answerDelay = d
	p.mu.Unlock()
}

// SetExpiresIn sets the expires_in (seconds) of the OAuth token
// endpoint's answers, for tests of tokens that expire often.
func (p *Provider) SetExpiresIn(seconds int) {
	p.mu.Lock()
	p.expiresIn = seconds
	p.mu.Unlock()
}

// RefusedRedemptions returns how many redemptions presented a refresh
// token that was not valid (never added, or already rotated).
func (p *Provider) RefusedRedemptions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// RefreshTokenValid reports whether rt can be redeemed now.
func (p *Provider) RefreshTokenValid(rt string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshTokens[rt]
}

// AddToken makes access token tok valid (as a Bearer token) for API calls.
// Several tokens may be valid at once.
func (p *Provider) AddToken(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens[tok] = true
}

// RevokeToken makes access token tok invalid again, e.g. to simulate expiry
// so that a client is forced to use its refresh token.
func (p *Provider) RevokeToken(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.tokens, tok)
}

// AddRefreshToken makes refresh token rt redeemable once at a token
// endpoint (/oauth/token or /api/v3/authorization/token). Redeeming it
// rotates it: rt becomes invalid and the response carries a new refresh
// token.
func (p *Provider) AddRefreshToken(rt string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refreshTokens[rt] = true
}

// Requests returns a copy of every API request received so far (not
// token-endpoint calls), oldest first.
func (p *Provider) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, len(p.requests))
	for i, q := range p.requests {
		out[i] = q.clone()
	}
	return out
}

// Reset forgets recorded requests. Tokens and the token-call count are kept.
func (p *Provider) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
}

// TokenCalls returns how many times a token endpoint (/oauth/token or the
// Appspace /api/v3/authorization/token) was called.
func (p *Provider) TokenCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokenCalls
}

// ServeHTTP records the request (unless it is for the token endpoint) and
// then dispatches it. Recording happens before any auth check so tests can
// inspect what a client sent even when it was rejected.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != tokenPath && r.URL.Path != appspaceTokenPath {
		p.record(r)
	}
	p.mux.ServeHTTP(w, r)
}

// record appends a snapshot of r. It consumes up to maxBody bytes of the
// body and puts them back in front of the remainder, so handlers still see
// the complete body.
func (p *Provider) record(r *http.Request) {
	var body []byte
	if r.Body != nil {
		// A read error just means we record what arrived; the handler
		// will hit the same error when it reads on.
		body, _ = io.ReadAll(io.LimitReader(r.Body, maxBody))
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	}
	q := Request{
		Method: r.Method,
		URL:    r.URL.RequestURI(),
		Header: r.Header.Clone(),
		Body:   bytes.Clone(body),
		Host:   r.Host,
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, q)
}

// authorized reports whether r carries a valid Bearer token, and whether it
// carried any credential at all (Graph and RFC 6750 word the two cases
// differently).
func (p *Provider) authorized(r *http.Request) (ok, present bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return false, false
	}
	scheme, tok, found := strings.Cut(h, " ")
	// The auth scheme is case-insensitive (RFC 9110 section 11.1).
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return false, true
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return false, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokens[tok], true
}
