package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

// fleet is widgetgate as it runs in production: several replicas sharing
// one Vault cluster (three Raft nodes behind a Caddy load balancer), the
// stand-in provider (its token endpoint rotates refresh tokens strictly:
// a rotated one is refused with invalid_grant).
type fleet struct {
	vault    *testenv.VaultCluster
	provider *standin.Provider
	replicas []*testenv.Widgetgate
	config   string
}

// startFleet starts a Vault cluster and n replicas using it.
func startFleet(t *testing.T, n int, opt options) *fleet {
	t.Helper()
	f := &fleet{vault: testenv.StartVaultCluster(t, 3), provider: standin.New()}
	f.config = sidecarConfig(t, f.vault.Addr, serveProvider(t, f.provider), opt)
	for range n {
		f.replicas = append(f.replicas, testenv.StartWidgetgate(t, f.config, "VAULT_TOKEN="+f.vault.Token))
	}
	return f
}

// expiredPassport stores passport id, its access token expired and its
// refresh token rt redeemable at the stand-in, bound to instance for the
// my-saas widget.
func (f *fleet) expiredPassport(t *testing.T, id, instance, rt string) {
	t.Helper()
	f.provider.AddRefreshToken(rt)
	f.put(t, "widgetgate/passports/"+id, map[string]any{"provider": "custom:my-api-connector", "status": "active",
		"access_token": "at-expired-" + id, "token_type": "Bearer", "refresh_token": rt,
		"expiry": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
	f.put(t, "widgetgate/bindings/"+instance, map[string]any{"myApiAuth": id})
}

// put writes a secret through the cluster's load balancer, trying again
// while the cluster settles (a node that just rejoined can cost an
// election): the test's own set-up, not what it checks.
func (f *fleet) put(t *testing.T, path string, data map[string]any) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "writing "+path, func() error {
		_, err := f.vault.Client.KVv2("secret").Put(context.Background(), path, data)
		return err
	})
}

// outcome is how one call ended.
type outcome struct {
	status     int
	code       string
	retryAfter string
	end        time.Time
	err        error
}

func (o outcome) String() string {
	if o.err != nil {
		return o.err.Error()
	}
	return fmt.Sprintf("%d %s", o.status, o.code)
}

func outcomeOf(r reply) outcome {
	o := outcome{status: r.status, end: time.Now(), err: r.err}
	if r.json != nil {
		o.code, _ = r.json["code"].(string)
	}
	if r.header != nil {
		o.retryAfter = r.header.Get("Retry-After")
	}
	return o
}

// tally counts outcomes by their String.
func tally(outs []outcome) map[string]int {
	m := map[string]int{}
	for _, o := range outs {
		m[o.String()]++
	}
	return m
}

const saasCall = "/sidecar/widgets/my-saas/apis/getData"

// TestFleetLeaderFailoverDuringRefresh: 300 concurrent calls over three
// replicas on a passport whose token has just expired; while the one
// redemption is at the provider (the lease held), the active Vault node is
// killed with SIGKILL, and the provider answers only then. Three cycles,
// one leader kill each. Every cycle: exactly one redemption at the strict
// rotation endpoint, Vault ends with the newest refresh token and the
// passport active, every call ends 200 or 503 vault_unavailable with
// Retry-After, and the 503s stop soon after a new leader is elected.
func TestFleetLeaderFailoverDuringRefresh(t *testing.T) {
	f := startFleet(t, 3, options{})
	kv := f.vault.Client.KVv2("secret")
	var recoveries []time.Duration
	for cycle := 1; cycle <= 3; cycle++ {
		id, instance, rt := fmt.Sprintf("pp-%d", cycle), fmt.Sprintf("screen-%d", cycle), fmt.Sprintf("rt-cycle-%d", cycle)
		f.expiredPassport(t, id, instance, rt)
		calls := f.provider.TokenCalls()
		arrived, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		f.provider.OnToken(func(*http.Request) {
			once.Do(func() { close(arrived) })
			<-release
		})
		leader := f.vault.Leader(t)

		outs := make([]outcome, 300)
		var wg sync.WaitGroup
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i] = outcomeOf(postJSON(f.replicas[i%3].URL+saasCall, `{}`, "X-Widget-Instance", instance))
			}()
		}
		select {
		case <-arrived:
		case <-time.After(60 * time.Second):
			close(release)
			t.Fatalf("cycle %d: no redemption reached the provider", cycle)
		}
		leader.Kill(t)
		killed := time.Now()
		close(release) // the provider answers while Vault has no leader
		elected := f.vault.Leader(t)
		electedAt := time.Now()
		wg.Wait()
		f.provider.OnToken(nil)

		if n := f.provider.TokenCalls() - calls; n != 1 {
			t.Errorf("cycle %d: %d redemptions, want exactly 1", cycle, n)
		}
		var last503 time.Time
		for _, o := range outs {
			switch {
			case o.err == nil && o.status == 200:
			case o.err == nil && o.status == 503 && o.code == "vault_unavailable" && o.retryAfter != "":
				if o.end.After(last503) {
					last503 = o.end
				}
			default:
				t.Errorf("cycle %d: a call ended %s (Retry-After %q), want 200 or 503 vault_unavailable with Retry-After", cycle, o, o.retryAfter)
			}
		}
		// The passport in Vault: active, with the refresh token the
		// provider takes now (the newest; the one redeemed is refused).
		testenv.WaitFor(t, 60*time.Second, "the rotated refresh token in Vault", func() error {
			sec, err := kv.Get(context.Background(), "widgetgate/passports/"+id)
			if err != nil {
				return err
			}
			got, _ := sec.Data["refresh_token"].(string)
			if got == rt || !f.provider.RefreshTokenValid(got) || sec.Data["status"] != "active" {
				return fmt.Errorf("Vault holds refresh token %q, status %v", got, sec.Data["status"])
			}
			return nil
		})
		// Once Vault is back, every replica serves the passport.
		for i, gw := range f.replicas {
			if r := postJSON(gw.URL+saasCall, `{}`, "X-Widget-Instance", instance); r.status != 200 {
				t.Errorf("cycle %d: replica %d after the failover: %d %s", cycle, i, r.status, r.raw)
			}
		}
		recovery := time.Duration(0)
		if last503.After(electedAt) {
			recovery = last503.Sub(electedAt)
		}
		recoveries = append(recoveries, recovery)
		t.Logf("cycle %d: killed %s, %s elected %s later; outcomes %v; last 503 %s after the election",
			cycle, leader.Name, elected.Name, electedAt.Sub(killed).Round(time.Millisecond), tally(outs), recovery.Round(time.Millisecond))
		// A liveness bound, not a speed target: the 503s end, well before
		// a caller's patience would.
		if recovery > 20*time.Second {
			t.Errorf("cycle %d: 503s went on for %s after the new leader was elected", cycle, recovery)
		}
		f.vault.Restart(t, leader)
	}
	slices.Sort(recoveries)
	t.Logf("503s after the election, per cycle (sorted): %v", recoveries)
}

// TestFleetVaultNodeRestarts: 30 s of calls with warm caches (re-read
// from Vault every second) while each Vault node in turn is stopped and
// started again: no call fails.
func TestFleetVaultNodeRestarts(t *testing.T) {
	// Caches re-read every second, so the restarts are felt by reads.
	f := startFleet(t, 3, options{globalExtra: "cache_ttl 1s"})
	const token = "at-warm-7a1c"
	f.warmPassport(t, token)
	for i, gw := range f.replicas { // warm every cache
		if r := postJSON(gw.URL+saasCall, `{}`, "X-Widget-Instance", "lobby"); r.status != 200 {
			t.Fatalf("replica %d: %d %s", i, r.status, r.raw)
		}
	}
	var urls []string
	for _, gw := range f.replicas {
		urls = append(urls, gw.URL+saasCall)
	}
	stop := make(chan struct{})
	began := time.Now()
	results := load(urls, 6, began.Add(30*time.Second), stop) // 30 s of load, at least
	for _, node := range f.vault.Nodes {
		node.Stop()
		f.vault.Restart(t, node)
		f.vault.Leader(t)
	}
	close(stop)
	outs := results()
	counts := tally(outs)
	t.Logf("%d calls in %s while each Vault node restarted: %v", len(outs), time.Since(began).Round(time.Second), counts)
	if counts["200 "] != len(outs) {
		t.Errorf("calls that did not get 200: %v", counts)
	}
	if len(outs) < 100 {
		t.Errorf("only %d calls: the load did not run", len(outs))
	}
}

// warmPassport stores an active passport pp-warm with a valid token,
// bound to instance lobby.
func (f *fleet) warmPassport(t *testing.T, token string) {
	t.Helper()
	f.provider.AddToken(token)
	f.put(t, "widgetgate/passports/pp-warm", map[string]any{"provider": "custom:my-api-connector", "status": "active",
		"access_token": token, "token_type": "Bearer", "refresh_token": "rt-warm",
		"expiry": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)})
	f.put(t, "widgetgate/bindings/lobby", map[string]any{"myApiAuth": "pp-warm"})
}

// load calls urls with workers until stop is closed and the time is past
// until, and returns every outcome. A call counts as whole only when its envelope parses and says
// isSuccess: a body cut mid-answer does not.
func load(urls []string, workers int, until time.Time, stop <-chan struct{}) func() []outcome {
	var mu sync.Mutex
	var outs []outcome
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		url := urls[w%len(urls)]
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					if time.Now().After(until) {
						return
					}
				default:
				}
				r := postJSON(url, `{}`, "X-Widget-Instance", "lobby")
				o := outcomeOf(r)
				if o.err == nil && o.status == 200 && r.json["isSuccess"] != true {
					o.code = "cut_or_malformed_envelope"
				}
				mu.Lock()
				outs = append(outs, o)
				mu.Unlock()
			}
		}()
	}
	return func() []outcome { wg.Wait(); return outs }
}

// TestFleetRollingRestart: constant load through a Caddy load balancer
// (active health checks on each replica's readiness endpoint) while each
// replica in turn gets SIGTERM (readiness 503 for shutdown_delay, then the
// listener closes and calls in flight drain) and is started again: no
// call fails, none is cut mid-answer.
func TestFleetRollingRestart(t *testing.T) {
	f := startFleet(t, 3, options{
		serverExtra: "shutdown_delay 1s\n\tgrace_period 10s",
		extraRoutes: "handle /healthz/* {\n\t\twidgetgate_health\n\t}",
	})
	const token = "at-rolling-3e9f"
	f.warmPassport(t, token)
	var upstreams []string
	for _, gw := range f.replicas {
		upstreams = append(upstreams, strings.TrimPrefix(gw.URL, "http://"))
	}
	lb := testenv.StartWidgetgate(t, `{
	admin off
	auto_https off
}
http://{addr} {
	reverse_proxy `+strings.Join(upstreams, " ")+` {
		lb_policy round_robin
		lb_try_duration 5s
		lb_try_interval 50ms
		health_uri /healthz/ready
		health_interval 200ms
		health_timeout 1s
	}
}
`)
	for i, gw := range f.replicas {
		testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("replica %d ready", i), func() error {
			if r := send("GET", gw.URL+"/healthz/ready", ""); r.status != 200 {
				return fmt.Errorf("readiness %d: %s", r.status, r.raw)
			}
			return nil
		})
	}
	stop := make(chan struct{})
	results := load([]string{lb.URL + saasCall}, 8, time.Time{}, stop)
	for i, gw := range f.replicas {
		gw.Signal(t, syscall.SIGTERM)
		select {
		case <-gw.Done():
		case <-time.After(60 * time.Second):
			t.Fatalf("replica %d did not exit after SIGTERM", i)
		}
		gw.Restart(t)
		testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("replica %d ready again", i), func() error {
			if r := send("GET", gw.URL+"/healthz/ready", ""); r.status != 200 {
				return fmt.Errorf("readiness %d", r.status)
			}
			return nil
		})
	}
	close(stop)
	outs := results()
	counts := tally(outs)
	t.Logf("%d calls through the load balancer while each replica restarted: %v", len(outs), counts)
	if counts["200 "] != len(outs) {
		t.Errorf("calls that failed or were cut: %v", counts)
	}
}
