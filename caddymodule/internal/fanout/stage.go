// Package fanout is the call pipeline's stage between "passport resolved,
// request rendered" and "sent". It exists for signage fleets: hundreds of
// screens show the same widget through one passport, and providers cap
// exactly that traffic. The stage
//
//   - coalesces identical calls in flight into one upstream request
//     (flight.go),
//   - answers from a per-passport response cache when the operator gave the
//     API a TTL, and from a stale answer when the provider fails
//     (cache.go),
//   - stops sending to a passport's provider host while the provider says
//     it is rate limited (cooldown.go), and
//   - bounds the upstream requests in flight per passport (budget.go).
//
// It knows nothing of envelopes, Vault or Caddy: the gateway hands it a
// Call (who, where, the key identical calls share) and a send function,
// and gets back an Answer and where it came from.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Call describes one call to the stage.
type Call struct {
	// Key is the same for identical calls and only for them: the same
	// passport and connection, method, rendered URL and headers. "" means
	// the call is never shared (POST, raw streams): it only obeys the
	// passport's cool-down and concurrency budget.
	Key string
	// Passport is the passport's id; Provider its provider's name (for the
	// concurrency budget and metrics labels).
	Passport, Provider string
	// Host is the provider host the call goes to: cool-downs are per
	// passport and host.
	Host string
	// TTL is how long an answer may be served from the cache; 0 means
	// calls are only coalesced.
	TTL time.Duration
}

// Answer is what one upstream exchange produced, as the stage needs to
// see it. Value is opaque to the stage and handed to every caller that
// shares the answer, so it must not be changed once returned.
type Answer struct {
	Value any
	// Status is the provider's HTTP status; 0 when no answer came.
	Status int
	// Header holds the provider's response headers (Retry-After,
	// Cache-Control); nil when no answer came.
	Header http.Header
	// Body is the provider's body when it is needed to classify the
	// answer (Google's 403 rate-limit reasons), else nil.
	Body []byte
	// Size is how many bytes Value holds, for the cache's bound.
	Size int64
	// Masked says something in the answer was masked because it echoed a
	// credential: such an answer is never cached.
	Masked bool
	// Failed says the call failed after the provider answered (its body
	// was too large, or unreadable): shared with identical calls in
	// flight, never cached.
	Failed bool
	// Unreachable says the provider could not be reached or did not answer
	// in time (a stale answer may stand in for it).
	Unreachable bool
}

// Source says where a call's answer came from. Its String is the value
// of the Widgetgate-Cache response header.
type Source int

// Sources of an answer.
const (
	Bypass    Source = iota // the stage does not share this call (POST, raw)
	Miss                    // this call's own upstream request
	Hit                     // the cache, within the TTL
	Coalesced               // another identical call's upstream request
	Stale                   // the cache, past the TTL, because the provider failed
)

var sourceNames = [...]string{"bypass", "miss", "hit", "coalesced", "stale"}

func (s Source) String() string { return sourceNames[s] }

// Result is an Answer and where it came from.
type Result struct {
	Answer Answer
	Source Source
	// Age is how old a Hit or Stale answer is.
	Age time.Duration
}

// ErrBusy is returned when a call waited its queue timeout (or its own
// deadline) for one of its passport's upstream slots.
var ErrBusy = errors.New("the passport has as many requests in flight as its provider allows")

// CoolingDownError is returned for a call whose passport's provider host
// is cooling down after a rate limit and no stale answer can stand in.
type CoolingDownError struct {
	// RetryAfter is how long the cool-down still lasts.
	RetryAfter time.Duration
}

func (e *CoolingDownError) Error() string {
	return fmt.Sprintf("the provider rate-limited this passport; cooling down for %s", e.RetryAfter)
}

// Defaults for Config fields left zero.
const (
	DefaultMaxBytes      = 64 << 20
	DefaultMaxEntryBytes = 1 << 20
	DefaultMaxRetryAfter = 10 * time.Minute
	DefaultQueueTimeout  = 5 * time.Second
	DefaultConcurrency   = 16
)

// Config is the stage's policy. It may change at a reload (SetConfig)
// while the cache, cool-downs and budgets carry on.
type Config struct {
	// MaxBytes bounds the cache's memory (answers and keys); least
	// recently used answers go first.
	MaxBytes int64
	// MaxEntryBytes: a larger answer is not cached.
	MaxEntryBytes int64
	// StaleIfError is how long past its TTL a cached answer may stand in
	// for a failed call. 0: never.
	StaleIfError time.Duration
	// MaxRetryAfter caps a cool-down, however long the provider asks for.
	MaxRetryAfter time.Duration
	// QueueTimeout is how long a call waits for one of its passport's
	// upstream slots.
	QueueTimeout time.Duration
	// Concurrency returns how many upstream requests of one passport of
	// provider may be in flight. Nil or ≤ 0: DefaultConcurrency.
	Concurrency func(provider string) int
	// Observer is told of events for metrics; nil: none.
	Observer Observer
}

// Observer is told what the stage does. Its labels are provider names
// and fixed words only: never a passport id, key or token.
type Observer interface {
	// RateLimited: a provider answered that a passport is rate limited.
	RateLimited(provider string)
	// InFlight: the number of upstream requests in flight for provider
	// changed by delta.
	InFlight(provider string, delta int)
	// Queued: a call waited d for an upstream slot; ok is false when it
	// gave up (passport_busy).
	Queued(provider string, d time.Duration, ok bool)
}

// Stage is the fan-out stage. It is safe for concurrent use; its state
// (cache, flights, cool-downs, budgets) is meant to outlive config reloads.
type Stage struct {
	cfg     atomic.Pointer[Config]
	now     func() time.Time
	flights flights
	cache   *cache
	cool    *cooldowns
	budget  *budgets
}

// New returns a stage with cfg. now is the clock (nil: time.Now); tests
// swap it.
func New(cfg Config, now func() time.Time) *Stage {
	if now == nil {
		now = time.Now
	}
	s := &Stage{now: now, cache: newCache(), cool: newCooldowns(), budget: newBudgets()}
	s.flights.init()
	s.SetConfig(cfg)
	return s
}

// SetConfig replaces the policy. Answers already cached stay; the new
// bounds apply from the next insertion.
func (s *Stage) SetConfig(cfg Config) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxEntryBytes <= 0 {
		cfg.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = DefaultQueueTimeout
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	s.cfg.Store(&cfg)
}

func (s *Stage) config() *Config { return s.cfg.Load() }

// Forget drops every cached answer of a passport: it was disconnected,
// reconnected, deleted or needs reconnecting, and what it fetched before
// must never be served again.
func (s *Stage) Forget(passportID string) { s.cache.forgetPassport(passportID) }

// CachedBytes returns the memory the cache accounts for, and how many
// answers it holds.
func (s *Stage) CachedBytes() (bytes int64, entries int) { return s.cache.usage() }

// Joined returns how many callers share key's call in flight (0: none),
// for tests that must know every caller is in before the answer comes.
func (s *Stage) Joined(key string) int { return s.flights.joined(key) }

// CoolingDown returns how many passport and host pairs are cooling down.
func (s *Stage) CoolingDown() int { return s.cool.active(s.now()) }

// Do runs call: from the cache, from an identical call in flight, or by
// send. send gets a context that no caller's departure cancels when the
// call is shared; it must bound its own time. Do's error is ErrBusy, a
// *CoolingDownError, or ctx's error when the caller gave up waiting for a
// shared answer.
func (s *Stage) Do(ctx context.Context, call Call, send func(context.Context) Answer) (Result, error) {
	if call.Key == "" {
		a, err := s.exchange(ctx, ctx, call, send)
		return Result{Answer: a, Source: Bypass}, err
	}
	cached, age, ok := s.cache.get(call.Key, s.now())
	if ok && age < call.TTL {
		return Result{Answer: cached, Source: Hit, Age: age}, nil
	}
	stale := func() (Result, bool) {
		if window := s.config().StaleIfError; ok && window > 0 && age < call.TTL+window {
			return Result{Answer: cached, Source: Stale, Age: age}, true
		}
		return Result{}, false
	}
	if wait, cooling := s.cool.remaining(call.Passport, call.Host, s.now()); cooling {
		if r, ok := stale(); ok {
			return r, nil
		}
		return Result{}, &CoolingDownError{RetryAfter: wait}
	}
	f, leader := s.flights.join(call.Key)
	if leader {
		// The flight runs on its own: a leader that gives up leaves the
		// others their answer, and the cache its entry.
		go s.fly(ctx, call, f, send)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	src := Coalesced
	if leader {
		src = Miss
	}
	if f.err == nil && !failed(f.answer) {
		return Result{Answer: f.answer, Source: src}, nil
	}
	var cd *CoolingDownError
	if f.err == nil || errors.As(f.err, &cd) {
		if r, ok := stale(); ok {
			return r, nil
		}
	}
	return Result{Answer: f.answer, Source: src}, f.err
}

// fly runs a shared call's exchange and settles its flight. The send is
// detached from the caller who started it; only the wait for a slot keeps
// that caller's deadline, if it has one.
func (s *Stage) fly(ctx context.Context, call Call, f *flight, send func(context.Context) Answer) {
	detached := context.WithoutCancel(ctx)
	queue := detached
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		queue, cancel = context.WithDeadline(detached, deadline)
		defer cancel()
	}
	a, err := s.exchange(detached, queue, call, send)
	if err == nil && call.TTL > 0 && s.cacheable(a) {
		cfg := s.config()
		s.cache.put(call.Key, call.Passport, a, s.now(), call.TTL+cfg.StaleIfError, cfg)
	}
	s.flights.land(call.Key, f, a, err)
}

// exchange sends within the passport's budget and cool-down, and starts a
// cool-down when the answer says the provider is rate limiting. The wait
// for a slot ends with queue; the send runs on ctx.
func (s *Stage) exchange(ctx, queue context.Context, call Call, send func(context.Context) Answer) (Answer, error) {
	cfg := s.config()
	if wait, cooling := s.cool.remaining(call.Passport, call.Host, s.now()); cooling {
		return Answer{}, &CoolingDownError{RetryAfter: wait}
	}
	limit := DefaultConcurrency
	if cfg.Concurrency != nil {
		if n := cfg.Concurrency(call.Provider); n > 0 {
			limit = n
		}
	}
	start := s.now()
	slot, queued, err := s.budget.acquire(queue, call.Passport, limit, cfg.QueueTimeout)
	if queued {
		cfg.Observer.Queued(call.Provider, s.now().Sub(start), err == nil)
	}
	if err != nil {
		return Answer{}, err
	}
	cfg.Observer.InFlight(call.Provider, 1)
	a := send(ctx)
	cfg.Observer.InFlight(call.Provider, -1)
	s.budget.release(slot)

	now := s.now()
	if hint, limited := rateLimited(a, now); limited {
		cfg.Observer.RateLimited(call.Provider)
		s.cool.start(call.Passport, call.Host, hint, now, cfg.MaxRetryAfter)
	} else if a.Status != 0 {
		s.cool.clear(call.Passport, call.Host)
	}
	return a, nil
}

// failed reports whether an answer is one a stale answer may stand in
// for: no answer, a 5xx or a 429.
func failed(a Answer) bool {
	return a.Unreachable || a.Status >= 500 || a.Status == http.StatusTooManyRequests
}

// cacheable reports whether an answer may be cached: a 2xx or 404 the
// provider did not mark no-store, not masked, and not over the size cap.
func (s *Stage) cacheable(a Answer) bool {
	okStatus := a.Status >= 200 && a.Status < 300 || a.Status == http.StatusNotFound
	return okStatus && !a.Masked && !a.Failed && a.Size <= s.config().MaxEntryBytes && storable(a.Header)
}

type nopObserver struct{}

func (nopObserver) RateLimited(string)                 {}
func (nopObserver) InFlight(string, int)               {}
func (nopObserver) Queued(string, time.Duration, bool) {}
