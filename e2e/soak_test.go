//go:build soak

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFleetSoak (make soak): three replicas on a Vault cluster under
// moderate load for WIDGETGATE_SOAK_DURATION (default 10m), the
// passport's token expiring every 60 s (token_expiry_skew 10s). Every
// expiry is refreshed exactly once (the stand-in rotates strictly, so a
// second redemption would fail a call and leave the passport needing
// reconnection), no call fails, and each replica's RSS and goroutine
// count are flat: the last minute's against the first's.
func TestFleetSoak(t *testing.T) {
	duration := 10 * time.Minute
	if s := os.Getenv("WIDGETGATE_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("WIDGETGATE_SOAK_DURATION: %v", err)
		}
		duration = d
	}
	const lifetime = 60 * time.Second
	f := startFleet(t, 3, options{globalExtra: "token_expiry_skew 10s"})
	f.provider.SetExpiresIn(int(lifetime / time.Second))
	f.expiredPassport(t, "pp-soak", "lobby", "rt-soak-0")
	var urls []string
	for _, gw := range f.replicas {
		urls = append(urls, gw.URL+saasCall)
	}

	type sample struct {
		at         time.Duration
		rss        []int64 // KiB, per replica
		goroutines []int
	}
	var samples []sample
	take := func(at time.Duration) {
		s := sample{at: at}
		for _, gw := range f.replicas {
			s.rss = append(s.rss, rssKiB(t, gw.Pid()))
			s.goroutines = append(s.goroutines, goroutines(t, gw.URL))
		}
		samples = append(samples, s)
	}

	stop := make(chan struct{})
	results := paced(urls, 3, 20*time.Millisecond, stop) // about 150 calls a second
	began := time.Now()
	tick := time.NewTicker(10 * time.Second)
	for time.Since(began) < duration {
		<-tick.C
		take(time.Since(began))
	}
	tick.Stop()
	close(stop)
	outs := results()
	counts := tally(outs)
	redemptions := f.provider.TokenCalls()
	t.Logf("%d calls in %s: %v; %d redemptions", len(outs), duration, counts, redemptions)
	if counts["200 "] != len(outs) {
		t.Errorf("calls that did not get 200: %v", counts)
	}
	// Every token was renewed before it expired (at least one redemption
	// per lifetime; the background refresher renews ahead, up to twice a
	// lifetime for tokens this short), each refresh token was redeemed
	// once (the stand-in refused none), and calls never caused
	// redemptions of their own.
	lo, hi := int(duration/lifetime), 2*int(duration/lifetime)+2
	if redemptions < lo || redemptions > hi {
		t.Errorf("%d redemptions in %s, want %d to %d", redemptions, duration, lo, hi)
	}
	if n := f.provider.RefusedRedemptions(); n != 0 {
		t.Errorf("%d redemptions of a refresh token already rotated: an expiry was refreshed twice", n)
	}
	sec, err := f.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/pp-soak")
	if err != nil {
		t.Fatal(err)
	}
	if rt, _ := sec.Data["refresh_token"].(string); sec.Data["status"] != "active" || !f.provider.RefreshTokenValid(rt) {
		t.Errorf("passport after the soak: status %v, refresh token valid %v", sec.Data["status"], f.provider.RefreshTokenValid(rt))
	}

	// Flat: the last minute's samples against the first minute's.
	window := func(from, to time.Duration) (rss []int64, gor []int) {
		rss, gor = make([]int64, len(f.replicas)), make([]int, len(f.replicas))
		for _, s := range samples {
			if s.at < from || s.at > to {
				continue
			}
			for i := range f.replicas {
				rss[i] = max(rss[i], s.rss[i])
				gor[i] = max(gor[i], s.goroutines[i])
			}
		}
		return rss, gor
	}
	firstRSS, firstG := window(0, time.Minute+time.Second)
	lastRSS, lastG := window(duration-time.Minute-time.Second, duration+time.Minute)
	for i := range f.replicas {
		t.Logf("replica %d: RSS peak %d KiB in the first minute, %d KiB in the last; goroutines %d then %d",
			i, firstRSS[i], lastRSS[i], firstG[i], lastG[i])
		if lastRSS[i] > firstRSS[i]*5/4+16<<10 {
			t.Errorf("replica %d: RSS grew from %d to %d KiB", i, firstRSS[i], lastRSS[i])
		}
		if lastG[i] > firstG[i]+25 {
			t.Errorf("replica %d: goroutines grew from %d to %d", i, firstG[i], lastG[i])
		}
	}
}

// paced is load where each worker calls once per every: moderate load,
// not as fast as it can.
func paced(urls []string, workers int, every time.Duration, stop <-chan struct{}) func() []outcome {
	var outs []outcome
	done := make(chan []outcome, workers)
	for w := range workers {
		url := urls[w%len(urls)]
		go func() {
			var mine []outcome
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					done <- mine
					return
				case <-tick.C:
				}
				r := postJSON(url, `{}`, "X-Widget-Instance", "lobby")
				o := outcomeOf(r)
				if o.err == nil && o.status == 200 && r.json["isSuccess"] != true {
					o.code = "cut_or_malformed_envelope"
				}
				mine = append(mine, o)
			}
		}()
	}
	return func() []outcome {
		for range workers {
			outs = append(outs, <-done...)
		}
		return outs
	}
}

// rssKiB reads a process's resident set size from /proc.
func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// goroutines reads go_goroutines from a replica's /metrics.
func goroutines(t *testing.T, base string) int {
	t.Helper()
	r := send("GET", base+"/metrics", "")
	for _, line := range strings.Split(string(r.raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no go_goroutines in %s/metrics (status %d)", base, r.status)
	return 0
}
