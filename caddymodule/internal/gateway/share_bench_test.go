package gateway

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// Benchmarks of the fan-out stage in the whole pipeline (in-process: the
// provider is an httptest server, the clock the stage's own). They report
// provider requests and latencies as metrics; nothing here is a timed
// assertion. BENCHMARKS.md has the figures and the command.

// BenchmarkCoalesce1000 sends 1,000 identical calls at once to a provider
// that takes 50 ms, and reports how many requests the provider saw and the
// p99 latency of the 1,000.
func BenchmarkCoalesce1000(b *testing.B) {
	f := newShareFixture(b, 0, fanout.Config{})
	release := make(chan struct{})
	f.answer.Store(func(w http.ResponseWriter, _ *http.Request) {
		<-release
		w.Write([]byte(`{"items":[]}`))
	})
	for b.Loop() {
		f.hits.Store(0)
		release = make(chan struct{})
		timer := time.AfterFunc(50*time.Millisecond, func() { close(release) })
		lat := make([]time.Duration, 1000)
		var wg sync.WaitGroup
		for i := range lat {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				if got := f.do(b, shareCall{instance: "a", api: "events"}); got.status != 200 {
					b.Errorf("status %d", got.status)
				}
				lat[i] = time.Since(start)
			}()
		}
		wg.Wait()
		timer.Stop()
		slices.Sort(lat)
		b.ReportMetric(float64(f.hits.Load()), "provider-requests")
		b.ReportMetric(float64(lat[989].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkSignage simulates a signage fleet for 10 minutes of simulated
// time: 10,000 screens over 50 passports, each screen polling one of 5
// APIs every 60 s ± 5 s, with a 30 s TTL. Calls falling in the same
// simulated second run concurrently. It reports provider requests per
// passport, API and minute (the bound: ≤ 2), the p99 latency of a
// call, and the heap the run leaves in use.
func BenchmarkSignage(b *testing.B) {
	const (
		screens   = 10_000
		passports = 50
		apis      = 5
		minutes   = 10
	)
	names := []string{"events", "eventsJSON", "eventsXML", "whoami", "eventsOf"}
	for b.Loop() {
		var now atomic.Int64
		clock := func() time.Time { return time.Unix(0, now.Load()) }
		f := newShareFixture(b, 30*time.Second, fanout.Config{}, clock)
		for p := range passports {
			f.passports[fmt.Sprint("screen-", p)] = &passport.Passport{ID: fmt.Sprint("pp-", p), Provider: "google",
				Status: passport.StatusActive, AccessToken: fmt.Sprint("token-", p)}
		}
		// Screen s is an instance bound to passport s%50 and shows API s/50%5.
		type event struct {
			at     time.Duration
			screen int
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var events []event
		for s := range screens {
			for t := time.Duration(rng.Int64N(int64(time.Minute))); t < minutes*time.Minute; t += time.Minute + time.Duration(rng.Int64N(int64(10*time.Second))) - 5*time.Second {
				events = append(events, event{t, s})
			}
		}
		slices.SortFunc(events, func(a, b event) int { return int(a.at - b.at) })
		var lat []time.Duration
		var mu sync.Mutex
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := 0; i < len(events); {
			second := events[i].at.Truncate(time.Second)
			now.Store(int64(second))
			j := i
			for j < len(events) && events[j].at.Truncate(time.Second) == second {
				j++
			}
			var wg sync.WaitGroup
			for _, ev := range events[i:j] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := shareCall{instance: fmt.Sprint("screen-", ev.screen%passports), api: names[ev.screen/passports%apis], user: "lobby"}
					if c.api == "eventsOf" {
						c.params = `"calendarId": "lobby"`
					}
					start := time.Now()
					if got := f.do(b, c); got.status != 200 {
						b.Errorf("status %d: %s", got.status, got.body)
					}
					d := time.Since(start)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}()
			}
			wg.Wait()
			i = j
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		slices.Sort(lat)
		perPassportAPIMinute := float64(f.hits.Load()) / (passports * apis * minutes)
		b.ReportMetric(float64(len(lat)), "calls")
		b.ReportMetric(float64(f.hits.Load()), "provider-requests")
		b.ReportMetric(perPassportAPIMinute, "provider-req/passport/api/min")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric((float64(after.HeapInuse)-float64(before.HeapInuse))/(1<<20), "heap-MiB")
	}
}
