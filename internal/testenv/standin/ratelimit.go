package standin

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// RateLimitAPI stands in for a provider API under signage load, for tests
// of widgetgate's fan-out stage. Its routes, GET or POST /rl/{name}, are
// named by the test, and each route counts its requests and how many are
// in flight at once, can hold its answers until the test releases them
// (so that callers pile up behind one request), can be slow, can answer
// what the test scripts (a 429 with Retry-After, Google's rate-limit 403,
// no-store, a 500, a dropped connection) and, like Microsoft Graph's
// Outlook API, can refuse requests beyond a concurrency limit with a 429
// and Graph's ApplicationThrottled error.
//
// An unscripted answer is 200 JSON naming the route, the request's serial
// number on the route (n, from 1), its method and query, and its X-*
// headers (never Authorization), so a test can tell which upstream
// request an answer came from.
type RateLimitAPI struct {
	tokens *Provider // nil: any credential is accepted
	mux    *http.ServeMux

	mu     sync.Mutex
	routes map[string]*Route
}

// Route is one named route of a RateLimitAPI. Its methods are safe for
// concurrent use.
type Route struct {
	name string

	mu          sync.Mutex
	requests    []Request
	inFlight    int
	maxInFlight int
	limit       int           // > 0: requests beyond it in flight get Graph's 429
	delay       time.Duration // before answering
	hold        chan struct{} // non-nil: requests wait until it is closed
	next        []Reply       // scripted answers, first in first out
	down        *Reply        // answers every request once next is empty
}

// Reply is a scripted answer.
type Reply struct {
	Status int
	// Header is set on the answer; Content-Type defaults to
	// application/json.
	Header map[string]string
	// Body is the answer's body; "" sends {"status":<Status>}.
	Body string
	// Drop closes the connection without answering: the provider is
	// unreachable for this request.
	Drop bool
}

// graphThrottledMessage is what Outlook's API says when an application
// has more than its 4 concurrent requests open on one mailbox.
const graphThrottledMessage = "Application is over its MailboxConcurrency limit."

// GoogleRateLimit is Google's 403 for an exceeded quota; reason is
// "rateLimitExceeded" or "userRateLimitExceeded", as Calendar sends them.
func GoogleRateLimit(reason string) Reply {
	msg := "Rate Limit Exceeded"
	if reason == "userRateLimitExceeded" {
		msg = "User Rate Limit Exceeded"
	}
	return googleError(http.StatusForbidden, msg, "usageLimits", reason, "PERMISSION_DENIED")
}

// GoogleForbidden is Google's 403 for a token lacking a scope: a 403 in
// the same format that is not a rate limit.
func GoogleForbidden() Reply {
	return googleError(http.StatusForbidden, "Request had insufficient authentication scopes.", "global", "insufficientPermissions", "PERMISSION_DENIED")
}

func googleError(code int, message, domain, reason, status string) Reply {
	type detail struct {
		Message string `json:"message"`
		Domain  string `json:"domain"`
		Reason  string `json:"reason"`
	}
	type body struct {
		Code    int      `json:"code"`
		Message string   `json:"message"`
		Errors  []detail `json:"errors"`
		Status  string   `json:"status"`
	}
	b, _ := json.Marshal(map[string]body{"error": {Code: code, Message: message,
		Errors: []detail{{Message: message, Domain: domain, Reason: reason}}, Status: status}})
	return Reply{Status: code, Header: map[string]string{"Content-Type": googleJSON}, Body: string(b)}
}

// NewRateLimitAPI returns the API. When tokens is not nil, a request needs
// a Bearer token tokens accepts (Provider.AddToken), else it gets 401.
func NewRateLimitAPI(tokens *Provider) *RateLimitAPI {
	a := &RateLimitAPI{tokens: tokens, mux: http.NewServeMux(), routes: map[string]*Route{}}
	a.mux.HandleFunc("GET /rl/{name}", a.serve)
	a.mux.HandleFunc("POST /rl/{name}", a.serve)
	a.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeRaw(w, http.StatusNotFound, plainJSON, catchAllNotFoundBody)
	})
	return a
}

// ServeHTTP implements http.Handler.
func (a *RateLimitAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Route returns the route called name (its path is /rl/<name>), making it
// if needed.
func (a *RateLimitAPI) Route(name string) *Route {
	a.mu.Lock()
	defer a.mu.Unlock()
	rt := a.routes[name]
	if rt == nil {
		rt = &Route{name: name}
		a.routes[name] = rt
	}
	return rt
}

// Path is the route's path.
func (rt *Route) Path() string { return "/rl/" + rt.name }

// Requests returns a copy of every request the route received, oldest
// first (refused ones included).
func (rt *Route) Requests() []Request {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]Request, len(rt.requests))
	for i, q := range rt.requests {
		out[i] = q.clone()
	}
	return out
}

// Count returns how many requests the route received.
func (rt *Route) Count() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.requests)
}

// InFlight returns how many requests the route is answering now.
func (rt *Route) InFlight() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.inFlight
}

// MaxInFlight returns the most requests the route had in flight at once.
func (rt *Route) MaxInFlight() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.maxInFlight
}

// Limit makes the route refuse, as Graph does, a request that arrives
// while n are in flight: 429 with Retry-After and Graph's
// ApplicationThrottled error. 0 lifts the limit.
func (rt *Route) Limit(n int) {
	rt.mu.Lock()
	rt.limit = n
	rt.mu.Unlock()
}

// Delay makes every answer wait d (or until the client goes away).
func (rt *Route) Delay(d time.Duration) {
	rt.mu.Lock()
	rt.delay = d
	rt.mu.Unlock()
}

// Hold makes requests wait, after they are counted, until Release.
func (rt *Route) Hold() {
	rt.mu.Lock()
	if rt.hold == nil {
		rt.hold = make(chan struct{})
	}
	rt.mu.Unlock()
}

// Release lets every held request, and every later one, go on.
func (rt *Route) Release() {
	rt.mu.Lock()
	if rt.hold != nil {
		close(rt.hold)
		rt.hold = nil
	}
	rt.mu.Unlock()
}

// Next scripts the route's next answers, in order, after those already
// scripted.
func (rt *Route) Next(replies ...Reply) {
	rt.mu.Lock()
	rt.next = append(rt.next, replies...)
	rt.mu.Unlock()
}

// Down makes the route answer r to every request that has no scripted
// answer, until Up.
func (rt *Route) Down(r Reply) {
	rt.mu.Lock()
	rt.down = &r
	rt.mu.Unlock()
}

// Up ends Down.
func (rt *Route) Up() {
	rt.mu.Lock()
	rt.down = nil
	rt.mu.Unlock()
}

func (a *RateLimitAPI) serve(w http.ResponseWriter, r *http.Request) {
	rt := a.Route(r.PathValue("name"))
	q := snapshot(r)

	rt.mu.Lock()
	rt.requests = append(rt.requests, q)
	n := len(rt.requests)
	rt.inFlight++
	rt.maxInFlight = max(rt.maxInFlight, rt.inFlight)
	over := rt.limit > 0 && rt.inFlight > rt.limit
	hold, delay := rt.hold, rt.delay
	rt.mu.Unlock()
	// The request stops counting as in flight before its answer is
	// written: a client that sends its next request as soon as it has
	// read an answer must not be seen overlapping with it.
	done := func() {
		rt.mu.Lock()
		rt.inFlight--
		rt.mu.Unlock()
	}

	if over {
		done()
		w.Header().Set("Retry-After", "2")
		writeGraphError(w, r, http.StatusTooManyRequests, "ApplicationThrottled", graphThrottledMessage)
		return
	}
	if a.tokens != nil {
		if ok, _ := a.tokens.authorized(r); !ok {
			done()
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+saasRealm+`", error="invalid_token"`)
			writeRaw(w, http.StatusUnauthorized, plainJSON, saasUnauthorizedBody)
			return
		}
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			done()
			return
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			done()
			return
		}
	}

	rt.mu.Lock()
	var reply *Reply
	if len(rt.next) > 0 {
		reply = &rt.next[0]
		rt.next = rt.next[1:]
	} else if rt.down != nil {
		reply = rt.down
	}
	rt.mu.Unlock()
	done()

	if reply == nil {
		writeJSON(w, http.StatusOK, plainJSON, defaultAnswer(rt.name, n, r))
		return
	}
	if reply.Drop {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	ct := plainJSON
	for k, v := range reply.Header {
		if strings.EqualFold(k, "Content-Type") {
			ct = v
			continue
		}
		w.Header().Set(k, v)
	}
	body := reply.Body
	if body == "" {
		b, _ := json.Marshal(map[string]int{"status": reply.Status})
		body = string(b)
	}
	writeRaw(w, reply.Status, ct, body)
}

// snapshot records r, as Provider.record does.
func snapshot(r *http.Request) Request {
	q := Request{Method: r.Method, URL: r.URL.RequestURI(), Header: r.Header.Clone(), Host: r.Host}
	if r.Body != nil {
		q.Body, _ = io.ReadAll(io.LimitReader(r.Body, maxBody))
	}
	return q
}

// rlAnswer is the unscripted answer.
type rlAnswer struct {
	Route   string            `json:"route"`
	N       int               `json:"n"`
	Method  string            `json:"method"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
	Pad     string            `json:"pad,omitempty"`
}

// defaultAnswer describes request n of route. A pad=<bytes> query param
// makes the answer that much larger.
func defaultAnswer(route string, n int, r *http.Request) rlAnswer {
	ans := rlAnswer{Route: route, N: n, Method: r.Method, Query: r.URL.RawQuery, Headers: map[string]string{}}
	for name, vs := range r.Header {
		if strings.HasPrefix(name, "X-") {
			ans.Headers[name] = strings.Join(vs, ", ")
		}
	}
	if pad, ok := sizeParam(r, "pad", 0); ok && pad > 0 {
		ans.Pad = strings.Repeat("a", int(min(pad, maxBody)))
	}
	return ans
}
