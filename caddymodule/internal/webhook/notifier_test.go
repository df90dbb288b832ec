package webhook_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/webhook"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

var testTime = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

const testKey = "whsec-test-key"

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
	query  string
}

// receiver is an httptest webhook receiver answering the statuses in
// answers in turn, then always the last one (200 when answers is empty).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	reqs    []received
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	r := &receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := http.StatusOK
		if len(r.answers) > 0 {
			status = r.answers[min(len(r.reqs), len(r.answers)-1)]
		}
		r.reqs = append(r.reqs, received{header: req.Header.Clone(), body: body, query: req.URL.RawQuery})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// clock is a test clock whose After lets the time pass at once: a retry
// waits no real time, and the clock says how long it would have waited.
type clock struct {
	*testenv.Clock
	mu    sync.Mutex
	waits []time.Duration
}

func newClock() *clock {
	c := &clock{Clock: testenv.NewClock()}
	c.Add(testTime.Sub(c.Now()))
	return c
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	c.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

func (c *clock) waited() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// newNotifier returns a notifier on clk with cfg's blanks filled in.
func newNotifier(t *testing.T, clk *clock, cfg webhook.Config) *webhook.Notifier {
	t.Helper()
	if cfg.Key == nil {
		cfg.Key = staticKey(testKey)
	}
	cfg.Now, cfg.After = clk.Now, clk.After
	n, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// run runs n until the returned stop is called (or the test ends); stop
// returns once Run has.
func run(t *testing.T, n *webhook.Notifier) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// syncBuffer is a log sink for handlers written from several workers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testEvent() webhook.Event {
	return webhook.NewEvent(webhook.TypeReconnectRequired, "pp-1", "google", "the provider refused the refresh token (invalid_grant)", testTime)
}

// A delivery carries the event as JSON with its headers, and its
// signature verifies with the key; with another key it does not.
func TestDeliverySigned(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t)
	n := newNotifier(t, clk, webhook.Config{URLs: []string{rcv.URL + "/hook"}})
	run(t, n)
	ev := testEvent()
	n.Notify(ev)
	testenv.WaitUntil(t, func() bool { return n.Stats().Delivered == 1 })

	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	for h, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "widgetgate-webhook",
		webhook.EventIDHeader: ev.ID, webhook.EventTypeHeader: webhook.TypeReconnectRequired} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if err := webhook.Verify([]byte(testKey), r.header.Get(webhook.SignatureHeader), r.body, clk.Now(), time.Minute); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if err := webhook.Verify([]byte("another key"), r.header.Get(webhook.SignatureHeader), r.body, clk.Now(), time.Minute); err == nil {
		t.Error("signature verifies with another key")
	}
	var got webhook.Event
	if err := json.Unmarshal(r.body, &got); err != nil || got != ev {
		t.Errorf("body %s (%v), want %+v", r.body, err, ev)
	}
}

// Non-2xx answers are retried with the same body and event id and a
// fresh signature timestamp each time, until a 2xx; then no more.
func TestRetriesUntil2xx(t *testing.T) {
	tests := []struct {
		name         string
		answers      []int
		wantAttempts int
	}{
		{"accepted at once", []int{200}, 1},
		{"204 is accepted", []int{204}, 1},
		{"500 twice, then 200", []int{500, 500, 200}, 3},
		{"503, 429, 302, then 202", []int{503, 429, 302, 202}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			rcv := newReceiver(t, tc.answers...)
			// RetryBase 10s: every wait is at least 5s, so each attempt's
			// timestamp (in seconds) differs from the one before.
			n := newNotifier(t, clk, webhook.Config{URLs: []string{rcv.URL}, RetryBase: 10 * time.Second})
			stop := run(t, n)
			ev := testEvent()
			n.Notify(ev)
			testenv.WaitUntil(t, func() bool { return n.Stats().Delivered == 1 })
			stop() // nothing may be sent after the 2xx

			reqs := rcv.requests()
			if len(reqs) != tc.wantAttempts {
				t.Fatalf("%d attempts, want %d", len(reqs), tc.wantAttempts)
			}
			if s := n.Stats(); s != (webhook.Stats{Delivered: 1, Retried: uint64(tc.wantAttempts - 1)}) {
				t.Errorf("Stats = %+v", s)
			}
			seen := map[string]bool{}
			for i, r := range reqs {
				if r.header.Get(webhook.EventIDHeader) != ev.ID || !bytes.Equal(r.body, reqs[0].body) {
					t.Errorf("attempt %d: event %s, body %s; want the first attempt's", i+1, r.header.Get(webhook.EventIDHeader), r.body)
				}
				sig := r.header.Get(webhook.SignatureHeader)
				ts := strings.SplitN(sig, ",", 2)[0]
				if seen[ts] {
					t.Errorf("attempt %d reuses timestamp %s", i+1, ts)
				}
				seen[ts] = true
				if err := webhook.Verify([]byte(testKey), sig, r.body, clk.Now(), 5*time.Minute); err != nil {
					t.Errorf("attempt %d: %v", i+1, err)
				}
			}
		})
	}
}

// A receiver that never accepts is retried with capped, growing waits for
// RetryFor, then the event is counted failed and not sent again; the next
// event goes out.
func TestGivesUpAfterRetryFor(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t, 500)
	n := newNotifier(t, clk, webhook.Config{URLs: []string{rcv.URL}, RetryFor: 2 * time.Minute,
		RetryBase: time.Second, RetryMax: 20 * time.Second})
	run(t, n)
	first := testEvent()
	n.Notify(first)
	testenv.WaitUntil(t, func() bool { return n.Stats().Failed == 1 })
	attempts := len(rcv.requests())

	var total time.Duration
	for i, d := range clk.waited() {
		total += d
		if d > 20*time.Second || d <= 0 {
			t.Errorf("wait %d = %s, want (0, RetryMax]", i+1, d)
		}
	}
	if total != 2*time.Minute {
		t.Errorf("retried for %s, want RetryFor (the last attempt at its end)", total)
	}
	if s := n.Stats(); s.Delivered != 0 || s.Retried != uint64(attempts-1) || attempts < 6 {
		t.Errorf("%d attempts, Stats %+v", attempts, s)
	}

	// The worker has moved on: the receiver now accepts, and what it gets
	// is the next event, once, and nothing more of the first.
	rcv.mu.Lock()
	rcv.answers = []int{200}
	rcv.mu.Unlock()
	next := testEvent()
	n.Notify(next)
	testenv.WaitUntil(t, func() bool { return n.Stats().Delivered == 1 })
	reqs := rcv.requests()
	if len(reqs) != attempts+1 || reqs[attempts].header.Get(webhook.EventIDHeader) != next.ID {
		t.Errorf("after giving up: %d requests (want %d), last for event %s (want %s)",
			len(reqs), attempts+1, reqs[len(reqs)-1].header.Get(webhook.EventIDHeader), next.ID)
	}
}

// A URL that hangs, fails or refuses connections does not hold up
// delivery to another.
func TestOneURLDownOthersDelivered(t *testing.T) {
	tests := []struct {
		name string
		down func(t *testing.T) string // returns the down URL
	}{
		{"hangs", func(t *testing.T) string {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) }) // runs before Close: the handler returns
			return srv.URL
		}},
		{"answers 500", func(t *testing.T) string { return newReceiver(t, 500).URL }},
		{"refuses connections", func(t *testing.T) string {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			return srv.URL
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			up := newReceiver(t)
			n := newNotifier(t, clk, webhook.Config{URLs: []string{tc.down(t), up.URL}, AttemptTimeout: time.Hour})
			run(t, n)
			for range 3 {
				n.Notify(testEvent())
			}
			testenv.WaitUntil(t, func() bool { return len(up.requests()) == 3 })
		})
	}
}

// With the queue full, Notify drops (logged, counted) without blocking;
// what was queued is delivered once Run starts.
func TestFullQueueDrops(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t)
	var logs syncBuffer
	n := newNotifier(t, clk, webhook.Config{URLs: []string{rcv.URL}, QueueSize: 2,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	returned := make(chan struct{})
	go func() {
		for range 5 {
			n.Notify(testEvent())
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second): // a failure guard, not synchronisation
		t.Fatal("Notify blocked on a full queue")
	}
	if s := n.Stats(); s.Dropped != 3 {
		t.Errorf("Stats = %+v, want 3 dropped", s)
	}
	if got := strings.Count(logs.String(), "webhook queue full"); got != 3 {
		t.Errorf("%d drop warnings logged, want 3:\n%s", got, logs.String())
	}
	run(t, n)
	testenv.WaitUntil(t, func() bool { return n.Stats().Delivered == 2 })
}

// The signing key never appears in logs or errors, and a URL's query
// (which may hold the receiver's secret) is sent but never logged, also
// when the HTTP client's error would repeat the URL.
func TestSecretsNotLogged(t *testing.T) {
	const canaryKey, canaryQuery = "canary-key-8d41e0", "canary-query-2f9c"
	tests := []struct {
		name     string
		url      func(t *testing.T) (base string, rcv *receiver)
		want     webhook.Stats
		wantLogs []string
	}{
		{"answers 500, then 200", func(t *testing.T) (string, *receiver) {
			r := newReceiver(t, 500, 200)
			return r.URL + "/hook", r
		}, webhook.Stats{Delivered: 1, Retried: 1}, []string{"webhook delivery failed; retrying", "webhook delivered"}},
		{"refuses connections", func(t *testing.T) (string, *receiver) {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			return srv.URL + "/down", nil
		}, webhook.Stats{Failed: 1}, []string{"connection refused", "webhook delivery given up"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			base, rcv := tc.url(t)
			var logs syncBuffer
			n := newNotifier(t, clk, webhook.Config{
				URLs:     []string{base + "?token=" + canaryQuery},
				Key:      staticKey(canaryKey),
				RetryFor: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			stop := run(t, n)
			n.Notify(testEvent())
			testenv.WaitUntil(t, func() bool { s := n.Stats(); return s.Delivered+s.Failed == 1 })
			stop()

			if s := n.Stats(); s.Delivered != tc.want.Delivered || s.Failed != tc.want.Failed ||
				(tc.want.Retried > 0 && s.Retried != tc.want.Retried) {
				t.Errorf("Stats = %+v, want %+v", s, tc.want)
			}
			out := logs.String()
			for _, secret := range []string{canaryKey, hex.EncodeToString([]byte(canaryKey)), canaryQuery} {
				if strings.Contains(out, secret) {
					t.Errorf("logs contain %q:\n%s", secret, out)
				}
			}
			for _, want := range append([]string{"url=" + base + " "}, tc.wantLogs...) {
				if !strings.Contains(out, want) {
					t.Errorf("logs lack %q:\n%s", want, out)
				}
			}
			if rcv != nil {
				if reqs := rcv.requests(); len(reqs) == 0 || reqs[len(reqs)-1].query != "token="+canaryQuery {
					t.Errorf("receiver got %d requests without the query: it must be sent", len(reqs))
				}
			}
		})
	}
}

// An error reading the key is an attempt that failed: retried, then the
// event is delivered once the key can be read.
func TestKeyErrorRetried(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t)
	var mu sync.Mutex
	calls := 0
	n := newNotifier(t, clk, webhook.Config{URLs: []string{rcv.URL}, Key: func(context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch calls {
		case 1:
			return nil, context.DeadlineExceeded
		case 2:
			return nil, nil // an empty key signs nothing worth verifying
		}
		return []byte(testKey), nil
	}})
	run(t, n)
	n.Notify(testEvent())
	testenv.WaitUntil(t, func() bool { return n.Stats().Delivered == 1 })
	if reqs := rcv.requests(); len(reqs) != 1 {
		t.Errorf("%d requests, want 1 (none without a key)", len(reqs))
	}
	if s := n.Stats(); s.Retried != 2 {
		t.Errorf("Stats = %+v, want 2 retries", s)
	}
}
