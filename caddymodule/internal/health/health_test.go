package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// canary stands for a token a dependency's error could echo.
const canary = "hvs.CANARY-vault-token-5f1e"

// failingRead is a dependency whose error carries the canary.
func failingRead(context.Context) error {
	return errors.New(`Get "https://vault/v1/secret/data/x": 403 permission denied for token ` + canary)
}

func vaultLike(ok bool) func(ctx context.Context) Result {
	return func(ctx context.Context) Result {
		if ok {
			return OK("Vault answers and accepts widgetgate's token")
		}
		if err := failingRead(ctx); err != nil {
			return Fail("Vault answers but refuses widgetgate's reads")
		}
		return OK("unreachable")
	}
}

func static(ok bool, reason string) func(context.Context) Result {
	return func(context.Context) Result { return Result{OK: ok, Reason: reason} }
}

func get(t *testing.T, h http.Handler, method, path string) (int, http.Header, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

func decode(t *testing.T, body []byte) Report {
	t.Helper()
	var rep Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("readiness body %q: %v", body, err)
	}
	return rep
}

// TestHealthReadiness: each check failing alone gives 503 naming that
// check (and only it) as failed with its reason; all passing gives 200.
// Liveness is 200 whatever the checks say. No body carries the canary.
func TestHealthReadiness(t *testing.T) {
	type checks struct{ vault, widgets, keys bool }
	cases := []struct {
		name       string
		c          checks
		draining   bool
		shutting   bool
		wantStatus int
		wantFailed string
		wantReason string
	}{
		{name: "all ok", c: checks{true, true, true}, wantStatus: 200},
		{name: "vault", c: checks{false, true, true}, wantStatus: 503, wantFailed: "vault", wantReason: "refuses widgetgate's reads"},
		{name: "widgets", c: checks{true, false, true}, wantStatus: 503, wantFailed: "widgets", wantReason: "catalogue is not loaded"},
		{name: "context keys", c: checks{true, true, false}, wantStatus: 503, wantFailed: "context_keys", wantReason: "not been loaded"},
		{name: "drained", c: checks{true, true, true}, draining: true, wantStatus: 503, wantFailed: "shutdown", wantReason: "shutting down"},
		{name: "server shutting down", c: checks{true, true, true}, shutting: true, wantStatus: 503, wantFailed: "shutdown", wantReason: "shutting down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{
				Checks: []Check{
					{Name: "vault", TTL: time.Second, Run: vaultLike(tc.c.vault)},
					{Name: "widgets", Run: static(tc.c.widgets, map[bool]string{true: "3 widget packages loaded", false: "the widget catalogue is not loaded"}[tc.c.widgets])},
					{Name: "context_keys", Run: static(tc.c.keys, map[bool]string{true: "caller-context keys loaded", false: "the caller-context secrets have not been loaded from Vault yet"}[tc.c.keys])},
				},
				ShuttingDown: func(*http.Request) bool { return tc.shutting },
			})
			if tc.draining {
				c.Drain()
			}
			status, hdr, body := get(t, c, "GET", "/healthz/ready")
			if status != tc.wantStatus {
				t.Fatalf("ready: %d %s, want %d", status, body, tc.wantStatus)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if strings.Contains(string(body), canary) {
				t.Errorf("the readiness body carries the canary: %s", body)
			}
			rep := decode(t, body)
			wantStatus := StatusReady
			if tc.wantStatus != 200 {
				wantStatus = StatusNotReady
			}
			if rep.Status != wantStatus {
				t.Errorf("status %q, want %q", rep.Status, wantStatus)
			}
			names := []string{}
			for _, cr := range rep.Checks {
				names = append(names, cr.Name)
				if cr.Reason == "" {
					t.Errorf("check %s has no reason", cr.Name)
				}
				failed := cr.Name == tc.wantFailed
				if want := map[bool]string{true: StatusFailed, false: StatusOK}[failed]; cr.Status != want {
					t.Errorf("check %s: %s (%s), want %s", cr.Name, cr.Status, cr.Reason, want)
				}
				if failed && !strings.Contains(cr.Reason, tc.wantReason) {
					t.Errorf("check %s: reason %q, want it to say %q", cr.Name, cr.Reason, tc.wantReason)
				}
			}
			if got := strings.Join(names, ","); got != "vault,widgets,context_keys,shutdown" {
				t.Errorf("checks %s", got)
			}
			if status, _, body := get(t, c, "GET", "/healthz/live"); status != 200 || !strings.Contains(string(body), `"live"`) {
				t.Errorf("live: %d %s", status, body)
			}
		})
	}
}

// TestHealthStartupOnly: a StartupOnly check fails readiness until it
// has passed once; after that, its failures are "degraded" and the
// replica stays ready. Other checks still fail readiness.
func TestHealthStartupOnly(t *testing.T) {
	var vaultOK, widgetsOK atomic.Bool
	widgetsOK.Store(true)
	c := New(Config{Checks: []Check{
		{Name: "vault", StartupOnly: true, Run: func(ctx context.Context) Result { return vaultLike(vaultOK.Load())(ctx) }},
		{Name: "widgets", Run: func(context.Context) Result { return Result{OK: widgetsOK.Load(), Reason: "widgets"} }},
	}})
	steps := []struct {
		name             string
		vault, widgets   bool
		wantCode         int
		wantVault, state string
	}{
		{"Vault down from the start", false, true, 503, StatusFailed, StatusNotReady},
		{"Vault answers", true, true, 200, StatusOK, StatusReady},
		{"Vault down after it answered once", false, true, 200, StatusDegraded, StatusReady},
		{"another check fails meanwhile", false, false, 503, StatusDegraded, StatusNotReady},
		{"Vault back", true, true, 200, StatusOK, StatusReady},
		{"down again", false, true, 200, StatusDegraded, StatusReady},
	}
	for _, st := range steps {
		vaultOK.Store(st.vault)
		widgetsOK.Store(st.widgets)
		code, _, body := get(t, c, "GET", "/healthz/ready")
		rep := decode(t, body)
		if code != st.wantCode || rep.Status != st.state || rep.Checks[0].Status != st.wantVault {
			t.Errorf("%s: %d %s, want %d %s with vault %s", st.name, code, body, st.wantCode, st.state, st.wantVault)
		}
		if st.wantVault == StatusDegraded && !strings.Contains(rep.Checks[0].Reason, "refuses") {
			t.Errorf("%s: a degraded check keeps its reason: %s", st.name, body)
		}
	}
}

// TestWidgetsResult: the widgets check fails only when no catalogue is
// loaded; refused packages are counted in the reason, not failed.
func TestWidgetsResult(t *testing.T) {
	for _, tc := range []struct {
		loaded            bool
		packages, refused int
		want              Result
	}{
		{false, 0, 0, Fail("the widget catalogue is not loaded")},
		{true, 0, 0, OK("0 widget packages loaded")},
		{true, 3, 1, OK("3 widget packages loaded; 1 refused (see the operator page)")},
	} {
		if got := Widgets(tc.loaded, tc.packages, tc.refused); got != tc.want {
			t.Errorf("Widgets(%v, %d, %d) = %+v, want %+v", tc.loaded, tc.packages, tc.refused, got, tc.want)
		}
	}
}

// TestHealthRoutes: only …/live and …/ready, only GET and HEAD; HEAD has
// no body; the rest are JSON problems.
func TestHealthRoutes(t *testing.T) {
	c := New(Config{})
	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/live", 200},
		{"GET", "/ready", 200},
		{"GET", "/healthz/ready/", 200},
		{"HEAD", "/healthz/ready", 200},
		{"GET", "/healthz/", 404},
		{"GET", "/healthz/readyz", 404},
		{"POST", "/healthz/ready", 405},
	}
	for _, tc := range cases {
		status, hdr, body := get(t, c, tc.method, tc.path)
		if status != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, status, tc.status)
		}
		switch {
		case tc.method == "HEAD" && len(body) != 0:
			t.Errorf("HEAD has a body: %s", body)
		case status >= 400 && hdr.Get("Content-Type") != "application/problem+json":
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, hdr.Get("Content-Type"))
		case status == 405 && hdr.Get("Allow") != "GET, HEAD":
			t.Errorf("Allow %q", hdr.Get("Allow"))
		}
	}
}

// TestHealthCheckTTL: a check's result is reused within its TTL (probes
// do not hammer Vault), failures too, and rerun after it; a check with
// no TTL runs on every probe.
func TestHealthCheckTTL(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC).UnixNano())
	var remote, local atomic.Int32
	var up atomic.Bool
	c := New(Config{
		Now: func() time.Time { return time.Unix(0, now.Load()) },
		Checks: []Check{
			{Name: "vault", TTL: 2 * time.Second, Run: func(context.Context) Result {
				remote.Add(1)
				if up.Load() {
					return OK("up")
				}
				return Fail("down")
			}},
			{Name: "widgets", Run: func(context.Context) Result { local.Add(1); return OK("loaded") }},
		},
	})
	ready := func() bool { return c.Ready(context.Background(), false).Status == StatusReady }
	for range 5 {
		if ready() {
			t.Fatal("ready while the vault check fails")
		}
	}
	if remote.Load() != 1 || local.Load() != 5 {
		t.Fatalf("runs: vault %d, widgets %d; want 1 and 5", remote.Load(), local.Load())
	}
	up.Store(true)
	now.Add(int64(time.Second))
	if ready() {
		t.Error("the failure was not reused within its TTL")
	}
	now.Add(int64(1500 * time.Millisecond))
	if !ready() {
		t.Error("not ready after the TTL, with the check passing")
	}
	if remote.Load() != 2 {
		t.Errorf("vault check ran %d times, want 2", remote.Load())
	}
}

// TestHealthTimeout: a check that does not answer fails after the
// timeout, saying so; probes meanwhile join the run in flight instead of
// starting another, and its answer is used once it comes.
func TestHealthTimeout(t *testing.T) {
	release := make(chan struct{})
	var runs atomic.Int32
	c := New(Config{
		Timeout: 50 * time.Millisecond,
		Checks: []Check{{Name: "vault", TTL: time.Hour, Run: func(ctx context.Context) Result {
			runs.Add(1)
			<-release // a Vault that hangs, past the run's own deadline
			return OK("answered late")
		}}},
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			rep := c.Ready(context.Background(), false)
			if rep.Status != StatusNotReady || rep.Checks[0].Reason != "no answer within 50ms" {
				t.Errorf("hung check: %+v", rep)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the probe waited %s", d)
			}
		}()
	}
	wg.Wait()
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for c.Ready(context.Background(), false).Status != StatusReady {
		if time.Now().After(deadline) {
			t.Fatal("the late answer was never used")
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the check ran %d times, want 1", n)
	}
}
