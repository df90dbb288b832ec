package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
)

// Notifier sends events to the configured URLs. Each URL has its own
// queue and worker, so a receiver that is down or slow delays only its
// own deliveries, and each receiver gets events in the order they were
// notified. A nil *Notifier (no webhooks configured) ignores everything.
type Notifier struct {
	cfg     Config
	targets []*target
	stats   counters
}

// target is one URL with its queue of deliveries.
type target struct {
	url   string // sent to: with its query
	name  string // logged: without it
	queue chan delivery
}

// delivery is an event ready to send: the body is encoded once, so every
// attempt and every receiver gets the same bytes (receivers may hash or
// store them; the signature covers them).
type delivery struct {
	id, typ string
	body    []byte
}

// counters are Stats' atomics.
type counters struct {
	delivered, retried, dropped, failed atomic.Uint64
}

// Stats counts deliveries, one per event and URL.
type Stats struct {
	// Delivered: a receiver answered 2xx.
	Delivered uint64
	// Retried: attempts after the first (non-2xx answers, network errors).
	Retried uint64
	// Dropped: the URL's queue was full when the event was notified.
	Dropped uint64
	// Failed: RetryFor passed without a 2xx; the event was given up.
	Failed uint64
}

// New returns a notifier for cfg. It checks every URL and that a key
// source is set; deliveries start with Run.
func New(cfg Config) (*Notifier, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("webhook: no URLs configured")
	}
	if cfg.Key == nil {
		return nil, errors.New("webhook: no signing key source (Config.Key) configured")
	}
	cfg.defaults()
	n := &Notifier{cfg: cfg}
	seen := map[string]bool{}
	for _, raw := range cfg.URLs {
		u, err := parseURL(raw)
		if err != nil {
			return nil, err
		}
		// A URL listed twice would get every event twice.
		if seen[u.String()] {
			return nil, fmt.Errorf("webhook URL %q: listed twice", redact(u))
		}
		seen[u.String()] = true
		n.targets = append(n.targets, &target{url: u.String(), name: redact(u), queue: make(chan delivery, cfg.QueueSize)})
	}
	return n, nil
}

// Notify queues ev for every URL and returns at once: it is called where
// a passport's status changes, which must not wait for a receiver. A URL
// whose queue is full loses the event (logged and counted as dropped). An
// event without an id or time gets them here.
func (n *Notifier) Notify(ev Event) {
	if n == nil {
		return
	}
	if ev.ID == "" {
		ev.ID = newID()
	}
	if ev.Time.IsZero() {
		ev.Time = n.cfg.Now().UTC()
	}
	body, err := json.Marshal(ev)
	if err != nil { // strings and a time: cannot happen, but never panic the caller
		n.cfg.Logger.Error("webhook event not encoded; dropped", "event", ev.ID, "error", err)
		return
	}
	d := delivery{id: ev.ID, typ: ev.Type, body: body}
	for _, t := range n.targets {
		select {
		case t.queue <- d:
		default:
			n.stats.dropped.Add(1)
			n.cfg.Logger.Warn("webhook queue full: event dropped", "url", t.name, "event", ev.ID, "type", ev.Type,
				"passport", ev.Passport, "queue_size", n.cfg.QueueSize)
		}
	}
}

// Run delivers queued events until ctx is done, then returns once every
// worker has stopped. Events still queued or being retried then are lost
// (logged when an attempt is cut short). Call it once.
func (n *Notifier) Run(ctx context.Context) {
	if n == nil {
		return
	}
	var wg sync.WaitGroup
	for _, t := range n.targets {
		wg.Go(func() { n.work(ctx, t) })
	}
	wg.Wait()
}

// Stats returns the counters so far (zero for a nil Notifier).
func (n *Notifier) Stats() Stats {
	if n == nil {
		return Stats{}
	}
	return Stats{Delivered: n.stats.delivered.Load(), Retried: n.stats.retried.Load(),
		Dropped: n.stats.dropped.Load(), Failed: n.stats.failed.Load()}
}

// work delivers t's queue, one event at a time.
func (n *Notifier) work(ctx context.Context, t *target) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-t.queue:
			n.deliver(ctx, t, d)
		}
	}
}

// plainError drops the URL an *url.Error repeats in its message: the
// query may hold a secret, and the log line names the URL already.
func plainError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
