// Package standin provides an in-process HTTP server that stands in for the
// upstream APIs widgetgate talks to: Google Calendar, Microsoft Graph, a
// custom OAuth-protected SaaS API, an RFC 6749 token endpoint and the
// Appspace API v3 token endpoint.
//
// The real services cannot be reached from tests or the offline demo, so the
// stand-in reproduces their response shapes and, importantly, their distinct
// error formats: code that handles upstream errors must cope with each
// vendor's own 401 body and WWW-Authenticate challenge.
package standin

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	seen          []string // Authorization headers /echo/seen received
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
	m.HandleFunc("GET /stream", handleStream)
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

// tokenHook runs the OnToken hook and reports whether the call goes on.
func (p *Provider) tokenHook(r *http.Request) bool {
	p.mu.Lock()
	hook := p.onToken
	p.mu.Unlock()
	if hook != nil {
		// Read the (small) body first: net/http notices a client that went
		// away, and cancels r.Context(), only once the body is consumed.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		hook(r)
	}
	return r.Context().Err() == nil
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

// ---- Google Calendar ------------------------------------------------------

func (p *Provider) googleEvents(w http.ResponseWriter, r *http.Request) {
	if ok, _ := p.authorized(r); !ok {
		w.Header().Set("WWW-Authenticate", googleWWWAuthenticate)
		writeRaw(w, http.StatusUnauthorized, googleJSON, googleUnauthorizedBody)
		return
	}
	calendarID := r.PathValue("calendarId")
	if calendarID == missingCalendar {
		writeRaw(w, http.StatusNotFound, googleJSON, googleNotFoundBody)
		return
	}

	items := googleEvents
	if v := r.URL.Query().Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > googleMaxResults {
			writeGoogleInvalidParam(w, "maxResults", v)
			return
		}
		items = items[:min(n, len(items))]
	}
	writeJSON(w, http.StatusOK, googleJSON, googleEventList{
		Kind:     "calendar#events",
		Summary:  calendarID,
		TimeZone: "UTC",
		Items:    items,
	})
}

// writeGoogleInvalidParam writes Google's 400 for an out-of-range parameter.
func writeGoogleInvalidParam(w http.ResponseWriter, param, value string) {
	msg := fmt.Sprintf("Invalid value '%s'. Values must be within the range: [1, %d]", value, googleMaxResults)
	type detail struct {
		Message      string `json:"message"`
		Domain       string `json:"domain"`
		Reason       string `json:"reason"`
		Location     string `json:"location"`
		LocationType string `json:"locationType"`
	}
	type body struct {
		Code    int      `json:"code"`
		Message string   `json:"message"`
		Errors  []detail `json:"errors"`
		Status  string   `json:"status"`
	}
	writeJSON(w, http.StatusBadRequest, googleJSON, map[string]body{"error": {
		Code:    http.StatusBadRequest,
		Message: msg,
		Errors: []detail{{
			Message: msg, Domain: "global", Reason: "invalid",
			Location: param, LocationType: "parameter",
		}},
		Status: "INVALID_ARGUMENT",
	}})
}

// ---- Microsoft Graph ------------------------------------------------------

func (p *Provider) graphCalendarView(w http.ResponseWriter, r *http.Request) {
	ok, present := p.authorized(r)
	if !ok {
		msg := graphBadToken
		if !present {
			msg = graphEmptyToken
		}
		w.Header().Set("WWW-Authenticate", graphWWWAuthenticate)
		writeGraphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return
	}
	// Graph matches query option names case-insensitively, and its own
	// error message spells them StartDateTime/EndDateTime.
	q := r.URL.Query()
	if queryFold(q, "startDateTime") == "" || queryFold(q, "endDateTime") == "" {
		writeGraphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", graphNoWindow)
		return
	}
	// The window is required but deliberately not used to filter: the
	// fixtures have fixed dates and callers should not need to know them.
	setGraphRequestIDs(w, r)
	writeJSON(w, http.StatusOK, graphJSON, graphEventList{Context: graphContext, Value: graphEvents})
}

// queryFold returns the first value of the query parameter whose name
// matches name case-insensitively.
func queryFold(q map[string][]string, name string) string {
	for k, vs := range q {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// setGraphRequestIDs sets Graph's correlation headers and returns the ids.
// Graph echoes the caller's client-request-id, or reuses its own request id
// when the caller sent none.
func setGraphRequestIDs(w http.ResponseWriter, r *http.Request) (requestID, clientRequestID string) {
	requestID = newUUID()
	clientRequestID = r.Header.Get("client-request-id")
	if clientRequestID == "" {
		clientRequestID = requestID
	}
	w.Header().Set("request-id", requestID)
	w.Header().Set("client-request-id", clientRequestID)
	return requestID, clientRequestID
}

// writeGraphError writes Graph's error envelope, including the innerError
// block every real Graph error carries.
func writeGraphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	requestID, clientRequestID := setGraphRequestIDs(w, r)
	type inner struct {
		Date            string `json:"date"`
		RequestID       string `json:"request-id"`
		ClientRequestID string `json:"client-request-id"`
	}
	type body struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError inner  `json:"innerError"`
	}
	writeJSON(w, status, graphErrorJSON, map[string]body{"error": {
		Code:    code,
		Message: message,
		InnerError: inner{
			Date:            time.Now().UTC().Format("2006-01-02T15:04:05"),
			RequestID:       requestID,
			ClientRequestID: clientRequestID,
		},
	}})
}

// ---- Custom SaaS ----------------------------------------------------------

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

// ---- OAuth token endpoint -------------------------------------------------

// tokenResponse is the RFC 6749 section 5.1 success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// tokenEndpoint does what both token endpoints do first: count the call,
// run the test hook, forbid caching, and insist on a POST of contentType.
// It reports whether the handler goes on.
func (p *Provider) tokenEndpoint(w http.ResponseWriter, r *http.Request, contentType string) bool {
	p.mu.Lock()
	p.tokenCalls++
	p.mu.Unlock()
	if !p.tokenHook(r) {
		return false
	}

	// RFC 6749 section 5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint only accepts POST.")
		return false
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), contentType) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Content-Type must be "+contentType+".")
		return false
	}
	return true
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
	writeJSON(w, http.StatusOK, plainJSON, tokenResponse{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    3599,
		RefreshToken: next,
		Scope:        scope,
	})
}

// ---- Appspace API v3 token endpoint ----------------------------------------

// appspaceTokenRequest is the refresh body Appspace documents.
type appspaceTokenRequest struct {
	SubjectType  string `json:"subjectType"`
	SubjectID    string `json:"subjectId"`
	GrantType    string `json:"grantType"`
	RefreshToken string `json:"refreshToken"`
}

// appspaceTokenResponse is Appspace's answer. The lifetimes are JSON strings,
// as in Appspace's documentation.
type appspaceTokenResponse struct {
	AccessToken           string `json:"accessToken"`
	RefreshToken          string `json:"refreshToken"`
	IDToken               string `json:"idToken"`
	ExpiresIn             string `json:"expiresIn"`
	RefreshTokenExpiresIn string `json:"refreshTokenExpiresIn"`
}

// appspaceToken implements the Appspace API v3 refresh with the same
// rotation as token: the refresh tokens added with AddRefreshToken are
// redeemable here (once), and every success returns a new one.
//
// Appspace does not document its error bodies, so failures use RFC 6749
// section 5.2 bodies as /oauth/token does (400 invalid_grant for an unknown
// or already-used refresh token). Any non-empty subjectId is accepted, the
// way any client credentials are at /oauth/token.
func (p *Provider) appspaceToken(w http.ResponseWriter, r *http.Request) {
	if !p.tokenEndpoint(w, r, "application/json") {
		return
	}
	var req appspaceTokenRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Malformed request body.")
		return
	}
	switch {
	case req.GrantType != "refreshToken":
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "grantType must be refreshToken.")
		return
	case req.SubjectType != "Application":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "subjectType must be Application.")
		return
	case req.SubjectID == "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: subjectId")
		return
	case req.RefreshToken == "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: refreshToken")
		return
	}

	access, next, valid := p.redeem(req.RefreshToken)
	if !valid {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", tokenInvalidGrantDesc)
		return
	}
	writeJSON(w, http.StatusOK, plainJSON, appspaceTokenResponse{
		AccessToken:           access,
		RefreshToken:          next,
		IDToken:               randomToken(),
		ExpiresIn:             "3600",
		RefreshTokenExpiresIn: "2592000",
	})
}

// redeem rotates refresh token rt: if it is valid, it becomes invalid and
// a new access token and refresh token are issued. Check and rotate happen
// under one lock so two concurrent redemptions of rt cannot both succeed.
func (p *Provider) redeem(rt string) (access, next string, ok bool) {
	access, next = randomToken(), randomToken()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.refreshTokens[rt] {
		return "", "", false
	}
	delete(p.refreshTokens, rt)
	p.refreshTokens[next] = true
	p.tokens[access] = true
	if d := p.answerDelay; d > 0 {
		// Committed: the answer is only late. (Unlocked while waiting,
		// so other calls go on.)
		p.mu.Unlock()
		time.Sleep(d)
		p.mu.Lock()
	}
	return access, next, true
}

// writeOAuthError writes an RFC 6749 section 5.2 error body.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, plainJSON, struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}{code, description})
}

// ---- Utility routes (no auth) ---------------------------------------------

func handleText(w http.ResponseWriter, _ *http.Request) {
	writeRaw(w, http.StatusOK, textPlain, textBody)
}

func handleImage(w http.ResponseWriter, _ *http.Request) {
	img := pngImage()
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(img)
}

func handleStatus(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	// 1xx codes are informational and cannot end a response, and
	// WriteHeader panics outside 100-999, so only final codes are allowed.
	if err != nil || code < 200 || code > 599 {
		writeRaw(w, http.StatusBadRequest, plainJSON, `{"error":"status must be an integer between 200 and 599"}`)
		return
	}
	writeRaw(w, code, plainJSON, fmt.Sprintf(`{"status":%d}`, code))
}

func handleRedirect(w http.ResponseWriter, _ *http.Request) {
	// Points off-site so tests can check that the gateway does not follow
	// upstream redirects (and leak credentials to another host).
	w.Header().Set("Location", "https://evil.example/steal")
	w.WriteHeader(http.StatusFound)
}

func handleSetCookie(w http.ResponseWriter, r *http.Request) {
	// Echoing the credential back lets tests check that the gateway strips
	// upstream headers that could leak it to the caller.
	w.Header().Set("Set-Cookie", "session=abc")
	w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
	writeRaw(w, http.StatusOK, plainJSON, `{}`)
}

// handleEcho plays the worst-behaved provider: it echoes every request
// header (the credential included) into its response headers and body, and
// on /echo/error into an HTML error page, as debug endpoints and some error
// pages do. Tests use it to prove the credential never reaches the widget.
func handleEcho(w http.ResponseWriter, r *http.Request) {
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	var page strings.Builder
	echoed := make(map[string]string, len(names))
	for _, name := range names {
		v := strings.Join(r.Header[name], ", ")
		echoed[name] = v
		w.Header().Set("X-Echo-"+name, v)
		fmt.Fprintf(&page, "<li>%s: %s</li>\n", html.EscapeString(name), html.EscapeString(v))
	}
	if r.URL.Path == "/echo/error" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "<html><body><h1>500 Internal Server Error</h1><p>Request headers:</p><ul>\n%s</ul></body></html>\n", page.String())
		return
	}
	body, _ := json.Marshal(map[string]any{"method": r.Method, "uri": r.URL.RequestURI(), "headers": echoed})
	writeRaw(w, http.StatusOK, plainJSON, string(body))
}

// handleEchoMalformed answers with a broken header block whose bad line
// is the request's Authorization header: an HTTP client's parse error
// then quotes the credential.
func handleEchoMalformed(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 200 OK\r\n" + r.Header.Get("Authorization") + "\r\n\r\n")
	buf.Flush()
}

// sizeParam parses a non-negative integer query parameter, defaulting to def.
func sizeParam(r *http.Request, name string, def int64) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}

// handleBig serves {"data":"aaa..."} of exactly N bytes (or the 11-byte
// minimum). It is written in chunks so huge documents need no big buffer.
func handleBig(w http.ResponseWriter, r *http.Request) {
	n, ok := sizeParam(r, "bytes", 1<<20)
	if !ok {
		writeRaw(w, http.StatusBadRequest, plainJSON, `{"error":"bytes must be a non-negative integer"}`)
		return
	}
	const prefix, suffix = `{"data":"`, `"}`
	fill := max(n-int64(len(prefix)+len(suffix)), 0)
	w.Header().Set("Content-Type", plainJSON)
	w.Header().Set("Content-Length", strconv.FormatInt(fill+int64(len(prefix)+len(suffix)), 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, prefix); err != nil {
		return
	}
	if err := writeRepeated(w, bytes.Repeat([]byte{'a'}, 32<<10), fill); err != nil {
		return
	}
	_, _ = io.WriteString(w, suffix)
}

// handleStream streams N bytes of a repeating 0x00..0xff pattern without a
// Content-Length, flushing as it goes, so the response is chunked and never
// buffered in full on either side.
func handleStream(w http.ResponseWriter, r *http.Request) {
	n, ok := sizeParam(r, "bytes", 1<<20)
	if !ok {
		writeRaw(w, http.StatusBadRequest, plainJSON, `{"error":"bytes must be a non-negative integer"}`)
		return
	}
	buf := make([]byte, 32<<10)
	for i := range buf {
		// 32 KiB is a multiple of 256, so the pattern stays continuous
		// across chunk boundaries.
		buf[i] = byte(i)
	}
	w.Header().Set("Content-Type", octetStream)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = writeRepeatedFunc(w, buf, n, func() error {
		if err := r.Context().Err(); err != nil {
			return err
		}
		// Flushing is best effort: recorders or wrappers may not support it.
		_ = rc.Flush()
		return nil
	})
}

// writeRepeated writes n bytes taken cyclically from buf.
func writeRepeated(w io.Writer, buf []byte, n int64) error {
	return writeRepeatedFunc(w, buf, n, nil)
}

// writeRepeatedFunc writes n bytes taken cyclically from buf, calling after
// (if non-nil) after every chunk; an error from after or from w stops it.
func writeRepeatedFunc(w io.Writer, buf []byte, n int64, after func() error) error {
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		n -= int64(len(chunk))
		if after != nil {
			if err := after(); err != nil {
				return err
			}
		}
	}
	return nil
}

// handleSlow waits ms milliseconds before answering, giving up as soon as
// the client goes away so tests of gateway timeouts do not leak handlers.
func handleSlow(w http.ResponseWriter, r *http.Request) {
	ms, ok := sizeParam(r, "ms", 0)
	if !ok {
		writeRaw(w, http.StatusBadRequest, plainJSON, `{"error":"ms must be a non-negative integer"}`)
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		writeRaw(w, http.StatusOK, plainJSON, `{}`)
	case <-r.Context().Done():
	}
}

// ---- helpers --------------------------------------------------------------

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

// randomToken returns 32 random bytes, hex-encoded.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b)
}

// newUUID returns a random RFC 9562 version 4 UUID, the form Graph uses for
// request ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
