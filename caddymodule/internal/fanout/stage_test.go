package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// provider is a stand-in upstream for the stage: it counts sends and
// answers with what the test sets.
type provider struct {
	sends  atomic.Int64
	answer func(n int64) Answer
}

func (p *provider) send(context.Context) Answer {
	n := p.sends.Add(1)
	if p.answer == nil {
		return ok(fmt.Sprintf("answer %d", n))
	}
	return p.answer(n)
}

func ok(v string) Answer {
	return Answer{Value: v, Status: 200, Header: http.Header{}, Size: int64(len(v))}
}

func status(code int, header ...string) Answer {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return Answer{Value: fmt.Sprintf("status %d", code), Status: code, Header: h, Size: 10}
}

var call = Call{Key: "k1", Passport: "p1", Provider: "google", Host: "api.example", TTL: 30 * time.Second}

func newStage(t *testing.T, cfg Config) (*Stage, *testenv.Clock) {
	t.Helper()
	c := testenv.NewClock()
	// On a whole second: Retry-After dates have no fractions.
	c.Add(time.Second - time.Duration(c.Now().Nanosecond()))
	return New(cfg, c.Now), c
}

// waitJoined waits until n callers share key's flight.
func waitJoined(t *testing.T, s *Stage, key string, n int) {
	t.Helper()
	testenv.WaitUntil(t, func() bool { return s.flights.joined(key) >= n })
}

func TestCoalescesIdenticalCalls(t *testing.T) {
	s, _ := newStage(t, Config{})
	release := make(chan struct{})
	p := &provider{answer: func(int64) Answer { <-release; return ok("shared") }}
	const n = 1000
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.Do(context.Background(), call, p.send)
		}()
	}
	waitJoined(t, s, call.Key, n)
	close(release)
	wg.Wait()
	if got := p.sends.Load(); got != 1 {
		t.Fatalf("provider saw %d requests for %d identical calls, want 1", got, n)
	}
	sources := map[Source]int{}
	for i := range n {
		if errs[i] != nil || results[i].Answer.Value != "shared" {
			t.Fatalf("call %d: %v, %v", i, results[i].Answer.Value, errs[i])
		}
		sources[results[i].Source]++
	}
	if sources[Miss] != 1 || sources[Coalesced] != n-1 {
		t.Fatalf("sources %v, want 1 miss and %d coalesced", sources, n-1)
	}
	// Within the TTL: from the cache, no provider request.
	for range n {
		r, err := s.Do(context.Background(), call, p.send)
		if err != nil || r.Source != Hit || r.Answer.Value != "shared" {
			t.Fatalf("second wave: %+v, %v", r, err)
		}
	}
	if got := p.sends.Load(); got != 1 {
		t.Fatalf("provider saw %d requests after the cached wave, want 1", got)
	}
}

func TestLeaderGivingUpDoesNotCancelTheFlight(t *testing.T) {
	s, _ := newStage(t, Config{})
	release := make(chan struct{})
	var sendCtxErr atomic.Value
	p := &provider{answer: func(int64) Answer { <-release; return ok("for the others") }}
	send := func(ctx context.Context) Answer {
		a := p.send(ctx)
		sendCtxErr.Store(fmt.Sprint(ctx.Err()))
		return a
	}
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error)
	go func() {
		_, err := s.Do(leaderCtx, call, send)
		leaderDone <- err
	}()
	waitJoined(t, s, call.Key, 1)
	other := make(chan Result)
	go func() {
		r, _ := s.Do(context.Background(), call, send)
		other <- r
	}()
	waitJoined(t, s, call.Key, 2)
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the leader that gave up got %v, want context.Canceled", err)
	}
	close(release)
	r := <-other
	if r.Answer.Value != "for the others" || r.Source != Coalesced {
		t.Fatalf("the remaining caller got %+v", r)
	}
	if got := sendCtxErr.Load(); got != "<nil>" {
		t.Fatalf("the shared send's context ended: %v", got)
	}
}

func TestCacheTTLAndBypass(t *testing.T) {
	s, clk := newStage(t, Config{})
	p := &provider{}
	tests := []struct {
		name    string
		advance time.Duration
		call    Call
		want    Source
		sends   int64
	}{
		{"first call", 0, call, Miss, 1},
		{"within the TTL", 29 * time.Second, call, Hit, 1},
		{"past the TTL", 2 * time.Second, call, Miss, 2},
		{"another key", 0, Call{Key: "k2", Passport: "p1", TTL: time.Minute}, Miss, 3},
		{"no TTL: coalesced only", 0, Call{Key: "k3", Passport: "p1"}, Miss, 4},
		{"no TTL, again", 0, Call{Key: "k3", Passport: "p1"}, Miss, 5},
		{"no key: bypass", 0, Call{Passport: "p1", TTL: time.Minute}, Bypass, 6},
		{"no key, again", 0, Call{Passport: "p1", TTL: time.Minute}, Bypass, 7},
	}
	for _, tt := range tests {
		clk.Add(tt.advance)
		r, err := s.Do(context.Background(), tt.call, p.send)
		if err != nil || r.Source != tt.want || p.sends.Load() != tt.sends {
			t.Fatalf("%s: source %v (want %v), sends %d (want %d), err %v", tt.name, r.Source, tt.want, p.sends.Load(), tt.sends, err)
		}
	}
}

func TestNotCached(t *testing.T) {
	tests := []struct {
		name   string
		answer Answer
	}{
		{"500", status(500)},
		{"401", status(401)},
		{"403", status(403)},
		{"429", status(429)},
		{"302", status(302)},
		{"no answer", Answer{Unreachable: true}},
		{"no-store", status(200, "Cache-Control", "private, No-Store")},
		{"no-cache", status(200, "Cache-Control", "no-cache=\"set-cookie\"")},
		{"masked", func() Answer { a := ok("x"); a.Masked = true; return a }()},
		{"failed after a 200", func() Answer { a := ok("x"); a.Failed = true; return a }()},
		{"over the size cap", func() Answer { a := ok("x"); a.Size = 1025; return a }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newStage(t, Config{MaxEntryBytes: 1024, MaxRetryAfter: time.Second})
			p := &provider{answer: func(int64) Answer { return tt.answer }}
			for i := range 2 {
				clk.Add(2 * time.Second) // past any cool-down the answer starts
				if _, err := s.Do(context.Background(), call, p.send); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if got := p.sends.Load(); got != 2 {
				t.Fatalf("provider saw %d requests for 2 calls: the answer was cached", got)
			}
			if _, n := s.CachedBytes(); n != 0 {
				t.Fatalf("cache holds %d answers", n)
			}
		})
	}
	t.Run("404 is cached", func(t *testing.T) {
		s, _ := newStage(t, Config{})
		p := &provider{answer: func(int64) Answer { return status(404) }}
		s.Do(context.Background(), call, p.send)
		if r, _ := s.Do(context.Background(), call, p.send); r.Source != Hit || p.sends.Load() != 1 {
			t.Fatalf("second 404: %v after %d sends", r.Source, p.sends.Load())
		}
	})
}

func TestStaleIfError(t *testing.T) {
	tests := []struct {
		name string
		fail Answer
	}{
		{"unreachable", Answer{Unreachable: true, Value: "problem"}},
		{"500", status(500)},
		{"503", status(503)},
		{"429", status(429)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newStage(t, Config{StaleIfError: time.Minute})
			p := &provider{answer: func(n int64) Answer {
				if n == 1 {
					return ok("fresh")
				}
				return tt.fail
			}}
			s.Do(context.Background(), call, p.send)
			clk.Add(call.TTL + 59*time.Second) // past the TTL, within the window
			r, err := s.Do(context.Background(), call, p.send)
			if err != nil || r.Source != Stale || r.Answer.Value != "fresh" || r.Age != call.TTL+59*time.Second {
				t.Fatalf("within the window: %+v, %v", r, err)
			}
			clk.Add(time.Hour) // past the window (and any cool-down)
			r, err = s.Do(context.Background(), call, p.send)
			if err != nil || r.Source != Miss || r.Answer.Value != tt.fail.Value {
				t.Fatalf("past the window: %+v, %v; want the failure itself", r, err)
			}
		})
	}
	t.Run("no window: the error", func(t *testing.T) {
		s, clk := newStage(t, Config{})
		p := &provider{answer: func(n int64) Answer {
			if n == 1 {
				return ok("fresh")
			}
			return status(500)
		}}
		s.Do(context.Background(), call, p.send)
		clk.Add(call.TTL)
		if r, _ := s.Do(context.Background(), call, p.send); r.Source != Miss || r.Answer.Status != 500 {
			t.Fatalf("got %+v", r)
		}
	})
}

func TestRateLimitCoolDown(t *testing.T) {
	httpDate := func(c *testenv.Clock, d time.Duration) string { return c.Now().Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name   string
		answer func(c *testenv.Clock) Answer
		want   time.Duration // the cool-down it starts
	}{
		{"429 Retry-After 2", func(*testenv.Clock) Answer { return status(429, "Retry-After", "2") }, 2 * time.Second},
		{"429 HTTP-date", func(c *testenv.Clock) Answer { return status(429, "Retry-After", httpDate(c, 7*time.Second)) }, 7 * time.Second},
		{"429 without a hint", func(*testenv.Clock) Answer { return status(429) }, time.Second},
		{"429 Retry-After 0: at least 1 s", func(*testenv.Clock) Answer { return status(429, "Retry-After", "0") }, time.Second},
		{"429 Retry-After 86400: clamped", func(*testenv.Clock) Answer { return status(429, "Retry-After", "86400") }, 10 * time.Minute},
		{"503 with Retry-After", func(*testenv.Clock) Answer { return status(503, "Retry-After", "3") }, 3 * time.Second},
		{"Google 403 rateLimitExceeded", func(*testenv.Clock) Answer { return google403("rateLimitExceeded") }, time.Second},
		{"Google 403 userRateLimitExceeded", func(*testenv.Clock) Answer { return google403("userRateLimitExceeded") }, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newStage(t, Config{})
			p := &provider{answer: func(n int64) Answer {
				if n == 1 {
					return tt.answer(clk)
				}
				return ok("recovered")
			}}
			r, err := s.Do(context.Background(), call, p.send)
			if err != nil || r.Answer.Status == 200 {
				t.Fatalf("the limiting answer goes to the caller as it came: %+v, %v", r, err)
			}
			clk.Add(tt.want - time.Millisecond)
			_, err = s.Do(context.Background(), call, p.send)
			var cd *CoolingDownError
			if !errors.As(err, &cd) || cd.RetryAfter <= 0 || cd.RetryAfter > tt.want {
				t.Fatalf("during the cool-down: %v, want CoolingDownError within %s", err, tt.want)
			}
			if got := p.sends.Load(); got != 1 {
				t.Fatalf("%d provider requests during the cool-down", got)
			}
			// Another passport of the same provider is not affected.
			other := call
			other.Key, other.Passport = "k-other", "p2"
			if _, err := s.Do(context.Background(), other, p.send); err != nil {
				t.Fatalf("other passport: %v", err)
			}
			clk.Add(time.Millisecond)
			if r, err := s.Do(context.Background(), call, p.send); err != nil || r.Answer.Value != "recovered" {
				t.Fatalf("after the cool-down: %+v, %v", r, err)
			}
		})
	}
}

func google403(reason string) Answer {
	a := status(403)
	a.Body = []byte(`{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"domain":"usageLimits","reason":"` + reason + `","message":"Rate Limit Exceeded"}]}}`)
	return a
}

func TestNotRateLimits(t *testing.T) {
	for name, a := range map[string]Answer{
		"503 without Retry-After": status(503),
		"Google 403 forbidden":    google403("forbidden"),
		"403 not JSON":            func() Answer { a := status(403); a.Body = []byte("rateLimitExceeded"); return a }(),
		"200 with Retry-After":    status(200, "Retry-After", "5"),
	} {
		if _, limited := rateLimited(a, time.Now()); limited {
			t.Errorf("%s: taken for a rate limit", name)
		}
	}
}

func TestCoolDownBacksOffWithoutHints(t *testing.T) {
	s, clk := newStage(t, Config{MaxRetryAfter: 5 * time.Second})
	p := &provider{answer: func(int64) Answer { return status(429) }}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		if _, err := s.Do(context.Background(), call, p.send); err != nil {
			t.Fatalf("strike %d: %v", i, err)
		}
		wait, cooling := s.cool.remaining(call.Passport, call.Host, clk.Now())
		if !cooling || wait != want {
			t.Fatalf("strike %d: cool-down %s, want %s", i, wait, want)
		}
		clk.Add(wait)
	}
}

func TestCoolDownServesStale(t *testing.T) {
	s, clk := newStage(t, Config{StaleIfError: time.Hour})
	p := &provider{answer: func(n int64) Answer {
		if n == 1 {
			return ok("fresh")
		}
		return status(429, "Retry-After", "60")
	}}
	s.Do(context.Background(), call, p.send)
	clk.Add(call.TTL)
	if r, _ := s.Do(context.Background(), call, p.send); r.Source != Stale {
		t.Fatalf("the 429 itself: %v, want stale", r.Source)
	}
	clk.Add(time.Second)
	r, err := s.Do(context.Background(), call, p.send)
	if err != nil || r.Source != Stale || p.sends.Load() != 2 {
		t.Fatalf("during the cool-down: %+v, %v after %d sends", r, err, p.sends.Load())
	}
}

func TestConcurrencyBudget(t *testing.T) {
	t.Run("never more than the limit in flight, FIFO, all served", func(t *testing.T) {
		s, _ := newStage(t, Config{Concurrency: func(string) int { return 4 }, QueueTimeout: time.Minute})
		var inFlight, peak atomic.Int64
		gate := make(chan struct{})
		send := func(context.Context) Answer {
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			<-gate
			inFlight.Add(-1)
			return ok("x")
		}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := call
				c.Key = fmt.Sprint("distinct-", i)
				_, err := s.Do(context.Background(), c, send)
				errs <- err
			}()
		}
		// Let them through one at a time, each once the budget is full.
		for released := range 20 {
			want := int64(min(4, 20-released))
			testenv.WaitUntil(t, func() bool { return inFlight.Load() >= want })
			gate <- struct{}{}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := peak.Load(); got != 4 {
			t.Fatalf("peak in flight %d, want 4", got)
		}
	})
	t.Run("the excess gets ErrBusy after the queue timeout", func(t *testing.T) {
		s, _ := newStage(t, Config{Concurrency: func(string) int { return 1 }, QueueTimeout: 20 * time.Millisecond})
		gate := make(chan struct{})
		started := make(chan struct{})
		go s.Do(context.Background(), call, func(context.Context) Answer { close(started); <-gate; return ok("x") })
		<-started
		c := call
		c.Key = "another"
		_, err := s.Do(context.Background(), c, func(context.Context) Answer { return ok("y") })
		close(gate)
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("got %v, want ErrBusy", err)
		}
	})
	t.Run("the wait ends with the starting caller's deadline", func(t *testing.T) {
		s, _ := newStage(t, Config{Concurrency: func(string) int { return 1 }, QueueTimeout: time.Hour})
		gate := make(chan struct{})
		defer close(gate)
		started := make(chan struct{})
		go s.Do(context.Background(), call, func(context.Context) Answer { close(started); <-gate; return ok("x") })
		<-started
		c := call
		c.Key = "another"
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		go s.Do(ctx, c, func(context.Context) Answer { return ok("y") })
		waitJoined(t, s, c.Key, 1)
		// A caller without a deadline joins the same flight: it learns the
		// flight gave up with its starter's deadline, not after an hour.
		_, err := s.Do(context.Background(), c, func(context.Context) Answer { return ok("y") })
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("got %v, want ErrBusy", err)
		}
	})
	t.Run("coalesced callers take no slot", func(t *testing.T) {
		s, _ := newStage(t, Config{Concurrency: func(string) int { return 1 }, QueueTimeout: 20 * time.Millisecond})
		gate := make(chan struct{})
		p := &provider{answer: func(int64) Answer { <-gate; return ok("x") }}
		var wg sync.WaitGroup
		errs := make([]error, 50)
		for i := range 50 {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = s.Do(context.Background(), call, p.send) }()
		}
		waitJoined(t, s, call.Key, 50)
		close(gate)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
	})
}

func TestForgetDropsAPassportsAnswers(t *testing.T) {
	s, _ := newStage(t, Config{})
	p := &provider{}
	other := call
	other.Key, other.Passport = "k-other", "p2"
	s.Do(context.Background(), call, p.send)
	s.Do(context.Background(), other, p.send)
	s.Forget(call.Passport)
	if r, _ := s.Do(context.Background(), call, p.send); r.Source != Miss {
		t.Fatalf("forgotten passport: %v, want a miss", r.Source)
	}
	if r, _ := s.Do(context.Background(), other, p.send); r.Source != Hit {
		t.Fatalf("other passport: %v, want a hit", r.Source)
	}
}

func TestCacheStaysWithinMaxBytes(t *testing.T) {
	const maxBytes = 64 << 10
	s, _ := newStage(t, Config{MaxBytes: maxBytes})
	p := &provider{answer: func(int64) Answer { a := ok("x"); a.Size = 1000; return a }}
	for i := range 1000 {
		c := call
		c.Key = fmt.Sprint("key-", i)
		s.Do(context.Background(), c, p.send)
		if b, _ := s.CachedBytes(); b > maxBytes {
			t.Fatalf("after %d answers the cache accounts %d bytes, over %d", i+1, b, maxBytes)
		}
	}
	// Least recently used out first: the newest is still there, the first is gone.
	c := call
	c.Key = "key-999"
	if r, _ := s.Do(context.Background(), c, p.send); r.Source != Hit {
		t.Fatalf("newest answer: %v", r.Source)
	}
	c.Key = "key-0"
	if r, _ := s.Do(context.Background(), c, p.send); r.Source != Miss {
		t.Fatalf("oldest answer: %v", r.Source)
	}
}
