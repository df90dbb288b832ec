package caddymodule

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
