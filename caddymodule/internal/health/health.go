// Package health answers load balancers' and Kubernetes' probes:
//
//	GET …/live   200 while the process serves; it looks at nothing else
//	GET …/ready  200 when every readiness check passes (or is degraded:
//	             see Check.StartupOnly), else 503
//
// The readiness body lists each check by name, "ok", "failed" or
// "degraded", with a reason in words. Reasons are chosen by each check
// (Result), never an error's text, so that nothing a dependency answered
// (which could echo a token) reaches a probe. It knows nothing of Caddy: the
// widgetgate_health handler builds a Checker from the app's parts.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
)

// DefaultTimeout bounds how long a readiness probe waits for its checks:
// below Kubernetes' default probe timeout (1s), so a slow dependency gets
// an answer (503, saying so) rather than a probe timing out.
const DefaultTimeout = 750 * time.Millisecond

// Result is what a check found, in words of its own.
type Result struct {
	OK     bool
	Reason string
}

// OK is a passed check.
func OK(reason string) Result { return Result{OK: true, Reason: reason} }

// Fail is a failed check. reason must be words of the caller's own, never
// an error's text.
func Fail(reason string) Result { return Result{Reason: reason} }

// Check is one readiness check.
type Check struct {
	// Name is how the body names the check ("vault", "widgets", …).
	Name string
	// Run answers within ctx, which ends after the checker's timeout.
	Run func(ctx context.Context) Result
	// TTL is how long a result is reused before Run is called again, so
	// that probes do not hammer a remote dependency; 0 runs it on every
	// probe (for checks that only look at memory).
	TTL time.Duration
	// StartupOnly makes the check fail readiness only until it has
	// passed once. A later failure is reported as "degraded" and the
	// replica stays ready. It is meant for a dependency every replica
	// shares, such as Vault: taking every replica out of the load
	// balancer during its outage would also stop the calls that cached
	// tokens can still serve.
	StartupOnly bool
}

// Config configures a Checker.
type Config struct {
	Checks []Check
	// Timeout bounds a probe's wait for its checks. Default DefaultTimeout.
	Timeout time.Duration
	// ShuttingDown reports whether the server that received r is shutting
	// down (Caddy's {http.shutting_down}). Optional.
	ShuttingDown func(r *http.Request) bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Checker runs the checks and serves the probes. Safe for concurrent use.
type Checker struct {
	timeout      time.Duration
	shuttingDown func(*http.Request) bool
	now          func() time.Time
	checks       []*cached
	draining     atomic.Bool
}

// cached is a check with its last result.
type cached struct {
	Check
	mu      sync.Mutex
	res     Result
	at      time.Time
	valid   bool
	running chan struct{} // non-nil while a run is in flight; closed when it ends
	passed  atomic.Bool   // the check has passed at least once
}

// New returns a Checker for cfg.
func New(cfg Config) *Checker {
	c := &Checker{timeout: cfg.Timeout, shuttingDown: cfg.ShuttingDown, now: cfg.Now}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	for _, ch := range cfg.Checks {
		c.checks = append(c.checks, &cached{Check: ch})
	}
	return c
}

// Drain makes readiness fail from now on: the process is about to stop
// serving, and load balancers should stop sending it requests.
func (c *Checker) Drain() { c.draining.Store(true) }

// Status values in a report.
const (
	StatusOK       = "ok"
	StatusFailed   = "failed"
	StatusDegraded = "degraded" // failed, but a StartupOnly check that has passed before
	StatusReady    = "ready"
	StatusNotReady = "not_ready"
	StatusLive     = "live"
)

// Report is the readiness body.
type Report struct {
	Status string        `json:"status"` // ready or not_ready
	Checks []CheckReport `json:"checks"`
}

// CheckReport is one check in a Report.
type CheckReport struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, failed or degraded
	Reason string `json:"reason"`
}

// shutdownCheck is the name of the check that fails once the server
// shuts down.
const shutdownCheck = "shutdown"

// Ready runs the checks, at once, each bounded by the timeout (and
// reused within its TTL), and reports. shuttingDown fails the shutdown
// check, as Drain does.
func (c *Checker) Ready(ctx context.Context, shuttingDown bool) Report {
	results := make([]Result, len(c.checks))
	var wg sync.WaitGroup
	for i, k := range c.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.result(ctx, k)
		}()
	}
	wg.Wait()
	rep := Report{Status: StatusReady, Checks: make([]CheckReport, 0, len(c.checks)+1)}
	add := func(name string, r Result, degrade bool) {
		cr := CheckReport{Name: name, Status: StatusOK, Reason: r.Reason}
		switch {
		case r.OK:
		case degrade:
			cr.Status = StatusDegraded
		default:
			cr.Status, rep.Status = StatusFailed, StatusNotReady
		}
		rep.Checks = append(rep.Checks, cr)
	}
	for i, k := range c.checks {
		if results[i].OK {
			k.passed.Store(true)
		}
		add(k.Name, results[i], k.StartupOnly && k.passed.Load())
	}
	if shuttingDown || c.draining.Load() {
		add(shutdownCheck, Fail("the server is shutting down"), false)
	} else {
		add(shutdownCheck, OK("the server is not shutting down"), false)
	}
	return rep
}

// result is k's result: the last one within its TTL, else a new run's.
// A probe waits for a run at most the timeout; a run already in flight
// (started by an earlier probe) is joined, never started twice.
func (c *Checker) result(ctx context.Context, k *cached) Result {
	if k.TTL <= 0 {
		rctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		return k.Run(rctx)
	}
	k.mu.Lock()
	if k.valid && c.now().Sub(k.at) < k.TTL {
		r := k.res
		k.mu.Unlock()
		return r
	}
	if k.running == nil {
		done := make(chan struct{})
		k.running = done
		// Not under the probe's context: a probe that gives up must not
		// cancel the run other probes wait for.
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			r := k.Run(rctx)
			cancel()
			k.mu.Lock()
			k.res, k.at, k.valid, k.running = r, c.now(), true, nil
			k.mu.Unlock()
			close(done)
		}()
	}
	done := k.running
	k.mu.Unlock()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case <-done:
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.res
	case <-t.C:
		return Fail("no answer within " + c.timeout.String())
	case <-ctx.Done():
		return Fail("the probe gave up before the check answered")
	}
}

// ServeHTTP serves …/live and …/ready (GET and HEAD); anything else is a
// JSON 404 problem. It routes by the path's tail, so it works under any
// route with or without the prefix stripped.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var probe string
	switch p := strings.TrimSuffix(r.URL.Path, "/"); {
	case strings.HasSuffix(p, "/live"):
		probe = StatusLive
	case strings.HasSuffix(p, "/ready"):
		probe = StatusReady
	default:
		problem.Write(w, problem.New(http.StatusNotFound, "not_found", "health checks are at …/live and …/ready"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		p := problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "health checks take GET or HEAD")
		p.Allow = "GET, HEAD"
		problem.Write(w, p)
		return
	}
	if probe == StatusLive {
		// Liveness depends on nothing: a process that answers is alive,
		// and restarting it would not bring Vault back.
		writeJSON(w, r, http.StatusOK, map[string]string{"status": StatusLive})
		return
	}
	rep := c.Ready(r.Context(), c.shuttingDown != nil && c.shuttingDown(r))
	status := http.StatusOK
	if rep.Status != StatusReady {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, r, status, rep)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, _ := json.Marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(append(b, '\n'))
	}
}

// Interface guards
var _ http.Handler = (*Checker)(nil)
