// Package metrics is what widgetgate exports to Prometheus: calls by
// widget, API and outcome, where answers came from, the passport cache's
// size and the fan-out stage's events. Labels are names from the loaded
// catalogue and the provider registry and fixed words: never caller
// input, a passport or instance id, or a token.
package metrics

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// register registers c, or returns the collector already registered
// under its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return c, err
		}
		return are.ExistingCollector.(C), nil
	}
	return c, nil
}

// Calls are the per-call metrics, exported on Caddy's metrics endpoint. Labels are only names
// from the loaded catalogue and fixed outcome codes, never caller input
// (an unknown widget is counted under ""), so their cardinality is bounded,
// and never a token or an instance id.
type Calls struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	sources  *prometheus.CounterVec
	contexts *prometheus.CounterVec

	// The series in use, looked up once: WithLabelValues hashes and
	// validates its labels on every call, a visible cost per request.
	counters sync.Map // callLabels → prometheus.Counter
	envelope prometheus.Observer
	raw      prometheus.Observer
	bySource [fanout.Stale + 1]prometheus.Counter
}

type callLabels struct{ widget, api, outcome string }

// NewCalls registers the per-call metrics with reg (or finds the ones a
// handler registered before).
func NewCalls(reg prometheus.Registerer) (*Calls, error) {
	m := &Calls{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "widgetgate", Name: "calls_total",
			Help: "Widget calls by widget, api and outcome (\"ok\" when the provider answered, else the problem code).",
		}, []string{"widget", "api", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "widgetgate", Name: "call_duration_seconds",
			Help:    "Time to answer a widget call (envelope mode) or to start streaming it (raw mode).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"mode"}),
		sources: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "widgetgate", Name: "call_sources_total",
			Help: "Widget calls by where their answer came from (the Widgetgate-Cache header): miss, hit, coalesced, stale, bypass.",
		}, []string{"source"}),
		contexts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "widgetgate", Name: "context_requests_total",
			Help: "Widget API context requests (getConfiguration, getUserInfo) by widget and outcome (\"ok\", else the problem code).",
		}, []string{"widget", "outcome"}),
	}
	// A second handler provisions against the same registry: use the
	// collectors the first registered.
	var err error
	if m.calls, err = register(reg, m.calls); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.sources, err = register(reg, m.sources); err != nil {
		return nil, err
	}
	if m.contexts, err = register(reg, m.contexts); err != nil {
		return nil, err
	}
	for src := range m.bySource {
		m.bySource[src] = m.sources.WithLabelValues(fanout.Source(src).String())
	}
	m.envelope = m.duration.WithLabelValues("envelope")
	m.raw = m.duration.WithLabelValues("raw")
	return m, nil
}

// Observe records one call. widget and api are "" unless the catalogue
// knows them.
func (m *Calls) Observe(widget, api, outcome string, source fanout.Source, raw bool, start time.Time) {
	if m == nil {
		return
	}
	m.bySource[source].Inc()
	d := m.envelope
	if raw {
		d = m.raw
	}
	d.Observe(time.Since(start).Seconds())
	key := callLabels{widget, api, outcome}
	c, ok := m.counters.Load(key)
	if !ok {
		c, _ = m.counters.LoadOrStore(key, m.calls.WithLabelValues(widget, api, outcome))
	}
	c.(prometheus.Counter).Inc()
}

// ObserveContext records one context request. widget is "" unless the
// catalogue knows it. Widgets ask for their context far less often than
// they call, so, unlike Observe, the series is looked up each time.
func (m *Calls) ObserveContext(widget, outcome string) {
	if m == nil {
		return
	}
	m.contexts.WithLabelValues(widget, outcome).Inc()
}

// RegisterCache exports the passport cache's size and its Vault
// reads. They are read from the cache when scraped, so the call path pays
// nothing for them, and their labels are fixed words: never instance ids.
// Caddy gives each loaded config its own registry, and each config one
// app, so these always describe the cache that serves.
func RegisterCache(reg prometheus.Registerer, c *passport.Cache) error {
	if reg == nil {
		return nil
	}
	instances := func(answer string, pick func(bound, unbound int) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "widgetgate", Name: "cached_instances",
			Help:        "Widget instances whose bindings are cached (answer=\"bound\"), and instances cached as having none (answer=\"not_bound\"); each at most cache_max_instances.",
			ConstLabels: prometheus.Labels{"answer": answer},
		}, func() float64 { return float64(pick(c.CachedInstances())) })
	}
	for _, col := range []prometheus.Collector{
		instances("bound", func(b, _ int) int { return b }),
		instances("not_bound", func(_, u int) int { return u }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "widgetgate", Name: "cached_passports",
			Help: "Passports (and answers that a passport id does not exist) cached; at most twice cache_max_passports.",
		}, func() float64 { return float64(c.CachedPassports()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "widgetgate", Name: "cache_vault_reads_total",
			Help: "Reads of bindings and passports from Vault by the cache: first reads, background re-reads, re-reads of expired tokens.",
		}, func() float64 { return float64(c.StoreReads()) }),
	} {
		if err := reg.Register(col); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// Fanout are the fan-out stage's metrics (a fanout.Observer). Labels are provider
// names from the registry, never a passport or instance id.
type Fanout struct {
	rateLimited *prometheus.CounterVec
	inFlight    *prometheus.GaugeVec
	queueWait   *prometheus.HistogramVec
	busy        *prometheus.CounterVec
	gauges      sync.Map // provider → prometheus.Gauge of inFlight, looked up once
}

// NewFanout registers the fan-out stage's metrics with reg; the gauges
// read s when scraped.
func NewFanout(reg prometheus.Registerer, s *fanout.Stage) (*Fanout, error) {
	m := &Fanout{
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "widgetgate", Name: "provider_rate_limited_total",
			Help: "Provider answers that said a passport is rate limited (429, 503 with Retry-After, Google's rate-limit 403), by provider.",
		}, []string{"provider"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "widgetgate", Name: "upstream_in_flight",
			Help: "Upstream requests in flight, by provider.",
		}, []string{"provider"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "widgetgate", Name: "passport_queue_wait_seconds",
			Help:    "Time calls waited for one of their passport's upstream slots, by provider (only calls that had to wait).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"provider"}),
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "widgetgate", Name: "passport_busy_total",
			Help: "Calls that waited the queue timeout for a passport slot and got 503 passport_busy, by provider.",
		}, []string{"provider"}),
	}
	var err error
	if m.rateLimited, err = register(reg, m.rateLimited); err != nil {
		return nil, err
	}
	if m.inFlight, err = register(reg, m.inFlight); err != nil {
		return nil, err
	}
	if m.queueWait, err = register(reg, m.queueWait); err != nil {
		return nil, err
	}
	if m.busy, err = register(reg, m.busy); err != nil {
		return nil, err
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "widgetgate", Name: "passports_cooling_down",
			Help: "Passport and provider host pairs cooling down after a rate limit.",
		}, func() float64 { return float64(s.CoolingDown()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "widgetgate", Name: "response_cache_bytes",
			Help: "Memory the response cache accounts for (answers, keys, overhead); at most response_cache max_bytes.",
		}, func() float64 { b, _ := s.CachedBytes(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "widgetgate", Name: "response_cache_entries",
			Help: "Answers held by the response cache.",
		}, func() float64 { _, n := s.CachedBytes(); return float64(n) }),
	} {
		if _, err := register(reg, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Fanout) RateLimited(provider string) { m.rateLimited.WithLabelValues(provider).Inc() }

func (m *Fanout) InFlight(provider string, delta int) {
	g, ok := m.gauges.Load(provider)
	if !ok {
		g, _ = m.gauges.LoadOrStore(provider, m.inFlight.WithLabelValues(provider))
	}
	g.(prometheus.Gauge).Add(float64(delta))
}

func (m *Fanout) Queued(provider string, d time.Duration, ok bool) {
	m.queueWait.WithLabelValues(provider).Observe(d.Seconds())
	if !ok {
		m.busy.WithLabelValues(provider).Inc()
	}
}

var _ fanout.Observer = (*Fanout)(nil)
