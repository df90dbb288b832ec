package caddymodule

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// metrics are exported on Caddy's metrics endpoint. Labels are only names
// from the loaded catalogue and fixed outcome codes, never caller input
// (an unknown widget is counted under ""), so their cardinality is bounded,
// and never a token or an instance id.
type metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// The series in use, looked up once: WithLabelValues hashes and
	// validates its labels on every call, a visible cost per request.
	counters sync.Map // callLabels → prometheus.Counter
	envelope prometheus.Observer
	raw      prometheus.Observer
}

type callLabels struct{ widget, api, outcome string }

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "widgetgate", Name: "calls_total",
			Help: "Widget calls by widget, api and outcome (\"ok\" when the provider answered, else the problem code).",
		}, []string{"widget", "api", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "widgetgate", Name: "call_duration_seconds",
			Help:    "Time to answer a widget call (envelope mode) or to start streaming it (raw mode).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"mode"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.duration} {
		if err := reg.Register(c); err != nil {
			// A reload provisions a new handler against the same registry.
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			switch c.(type) {
			case *prometheus.CounterVec:
				m.calls = are.ExistingCollector.(*prometheus.CounterVec)
			case *prometheus.HistogramVec:
				m.duration = are.ExistingCollector.(*prometheus.HistogramVec)
			}
		}
	}
	m.envelope = m.duration.WithLabelValues("envelope")
	m.raw = m.duration.WithLabelValues("raw")
	return m, nil
}

// observe records one call. widget and api are "" unless the catalogue
// knows them.
func (m *metrics) observe(widget, api, outcome string, raw bool, start time.Time) {
	if m == nil {
		return
	}
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

// registerCacheMetrics exports the passport cache's size and its Vault
// reads. They are read from the cache when scraped, so the call path pays
// nothing for them, and their labels are fixed words: never instance ids.
// Caddy gives each loaded config its own registry, and each config one
// app, so these always describe the cache that serves.
func registerCacheMetrics(reg prometheus.Registerer, c *passport.Cache) error {
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
