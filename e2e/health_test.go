package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// healthStack is Vault and a widgetgate serving widgetgate_health under
// /healthz/.
type healthStack struct {
	vault *testenv.Vault
	gw    *testenv.Widgetgate
}

// startHealth starts Vault and widgetgate with the example widgets;
// global goes into the global options, widgetgate into the app's block.
func startHealth(t *testing.T, global, widgetgate string, healthOptions ...string) *healthStack {
	t.Helper()
	s := &healthStack{vault: testenv.StartVault(t)}
	widgets, err := filepath.Abs(filepath.Join("..", "examples", "widgets"))
	if err != nil {
		t.Fatal(err)
	}
	s.gw = testenv.StartWidgetgate(t, `{
	admin off
	auto_https off
	`+global+`
	widgetgate {
		widgets_dir `+widgets+`
		allow_http_upstreams
		vault {
			address `+s.vault.Addr+`
		}
		upstream {
			egress_allow 127.0.0.1
		}
		`+widgetgate+`
	}
}
http://{addr} {
	handle /healthz/* {
		widgetgate_health {
			check_ttl 200ms
			`+strings.Join(healthOptions, "\n\t\t\t")+`
		}
	}
}
`, "VAULT_TOKEN="+s.vault.Token)
	return s
}

// probe is a readiness or liveness answer.
type probe struct {
	status  int
	raw     string
	report  healthReport
	elapsed time.Duration
}

type healthReport struct {
	Status string `json:"status"`
	Checks []struct {
		Name, Status, Reason string
	} `json:"checks"`
}

// check returns the named check of the report.
func (p probe) check(name string) (status, reason string) {
	for _, c := range p.report.Checks {
		if c.Name == name {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

func getProbe(base, path string) (probe, error) {
	start := time.Now()
	r := send("GET", base+path, "")
	if r.err != nil {
		return probe{}, r.err
	}
	p := probe{status: r.status, raw: string(r.raw), elapsed: time.Since(start)}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		return p, fmt.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(r.raw, &p.report); err != nil {
		return p, fmt.Errorf("GET %s: %v: %s", path, err, r.raw)
	}
	return p, nil
}

// waitReady polls /healthz/ready until it answers status with the named
// check failed (or, for 200, everything ok), and returns that answer.
func waitReady(t *testing.T, base string, status int, failed string) probe {
	t.Helper()
	var last probe
	testenv.WaitFor(t, 60*time.Second, fmt.Sprintf("readiness %d (failed: %q)", status, failed), func() error {
		p, err := getProbe(base, "/healthz/ready")
		if err != nil {
			return err
		}
		last = p
		if p.status != status {
			return fmt.Errorf("readiness %d: %s", p.status, p.raw)
		}
		if failed != "" {
			if st, _ := p.check(failed); st != "failed" {
				return fmt.Errorf("check %s is %q: %s", failed, st, p.raw)
			}
		}
		return nil
	})
	if last.elapsed > 3*time.Second {
		t.Errorf("a readiness probe took %s", last.elapsed)
	}
	return last
}

// assertLive: liveness answers 200, whatever readiness says.
func assertLive(t *testing.T, base string) {
	t.Helper()
	p, err := getProbe(base, "/healthz/live")
	if err != nil {
		t.Fatal(err)
	}
	if p.status != 200 || p.report.Status != "live" {
		t.Fatalf("liveness: %d %s", p.status, p.raw)
	}
}

// TestHealthVaultOutage: readiness is 200 with Vault up, turns 503 naming
// the vault check when Vault stops, and 200 again when it is back (same
// address, same token); liveness stays 200 throughout. No answer carries
// the Vault token.
func TestHealthVaultOutage(t *testing.T) {
	s := startHealth(t, "", "")
	base := s.gw.URL

	p := waitReady(t, base, 200, "")
	for _, name := range []string{"vault", "widgets", "shutdown"} {
		if st, reason := p.check(name); st != "ok" || reason == "" {
			t.Errorf("check %s: %q %q in %s", name, st, reason, p.raw)
		}
	}
	if st, _ := p.check("context_keys"); st != "" {
		t.Errorf("context_keys checked though none are configured: %s", p.raw)
	}
	assertLive(t, base)

	s.vault.Stop()
	p = waitReady(t, base, 503, "vault")
	if _, reason := p.check("vault"); reason != "Vault cannot be reached" {
		t.Errorf("vault check reason %q", reason)
	}
	if st, _ := p.check("widgets"); st != "ok" {
		t.Errorf("widgets check with Vault down: %s", p.raw)
	}
	assertLive(t, base)
	if strings.Contains(p.raw, s.vault.Token) {
		t.Errorf("the readiness body carries the Vault token: %s", p.raw)
	}

	s.vault.Start(t)
	waitReady(t, base, 200, "")
	assertLive(t, base)
	if strings.Contains(s.gw.FinalLog(t), s.vault.Token) {
		t.Error("widgetgate's log carries the Vault token")
	}
}

// TestHealthVaultCheckStartup: with vault_check startup, a Vault outage
// after the first successful read leaves the replica ready, the vault
// check "degraded" with its reason; a config loaded while Vault is down
// (a reload) is not ready until Vault answers once.
func TestHealthVaultCheckStartup(t *testing.T) {
	s := startHealth(t, "", "", "vault_check startup")
	base := s.gw.URL
	waitReady(t, base, 200, "")

	s.vault.Stop()
	waitVaultCheck := func(status string, code int) probe {
		t.Helper()
		var p probe
		testenv.WaitFor(t, 30*time.Second, "the vault check to be "+status, func() error {
			var err error
			if p, err = getProbe(base, "/healthz/ready"); err != nil {
				return err
			}
			if st, _ := p.check("vault"); st != status || p.status != code {
				return fmt.Errorf("%d, vault %s: %s", p.status, st, p.raw)
			}
			return nil
		})
		return p
	}
	p := waitVaultCheck("degraded", 200)
	if _, reason := p.check("vault"); reason != "Vault cannot be reached" || p.report.Status != "ready" {
		t.Errorf("degraded readiness: %s", p.raw)
	}
	assertLive(t, base)

	// A reload while Vault is down starts over: not ready until Vault
	// answers once.
	s.gw.Reload(t)
	waitVaultCheck("failed", 503)
	s.vault.Start(t)
	waitReady(t, base, 200, "")
	if st, _ := waitReady(t, base, 200, "").check("vault"); st != "ok" {
		t.Errorf("vault check %s once Vault is back", st)
	}
}

// TestHealthContextKeys: with context keys in Vault configured, readiness
// waits for them: 503 naming context_keys until the host's secret is in
// Vault, then 200.
func TestHealthContextKeys(t *testing.T) {
	// cache_ttl paces the keys' re-reads.
	s := startHealth(t, "", "cache_ttl 1s\n\t\tcontext_keys {\n\t\t\thmac_vault\n\t\t}")
	p := waitReady(t, s.gw.URL, 503, "context_keys")
	if st, _ := p.check("vault"); st != "ok" {
		t.Errorf("vault check: %s", p.raw)
	}
	secret := testenv.RandomHex(t, 24)
	s.vault.Put(t, "widgetgate/context-keys", map[string]any{"current": secret})
	p = waitReady(t, s.gw.URL, 200, "")
	if st, _ := p.check("context_keys"); st != "ok" {
		t.Errorf("context_keys check: %s", p.raw)
	}
	if strings.Contains(p.raw, secret) {
		t.Errorf("the readiness body carries the context secret: %s", p.raw)
	}
}

// TestHealthShutdown: on SIGTERM readiness turns 503 (shutdown check)
// while the listener still serves (liveness 200) for shutdown_delay; then
// the process exits.
func TestHealthShutdown(t *testing.T) {
	s := startHealth(t, "shutdown_delay 5s", "")
	waitReady(t, s.gw.URL, 200, "")
	s.gw.Signal(t, syscall.SIGTERM)
	p := waitReady(t, s.gw.URL, 503, "shutdown")
	if _, reason := p.check("shutdown"); reason != "the server is shutting down" {
		t.Errorf("shutdown reason %q", reason)
	}
	assertLive(t, s.gw.URL)
	select {
	case <-s.gw.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("widgetgate did not exit after SIGTERM")
	}
}

// exampleConfig is Caddyfile.example made runnable here: no admin
// endpoint, this test's Vault and a free address instead of the demo's.
func exampleConfig(t *testing.T, vaultAddr string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	widgets, err := filepath.Abs(filepath.Join("..", "examples", "widgets"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, r := range [][2]string{
		{"\n{\n", "\n{\n\tadmin off\n"},
		{"widgets_dir ./examples/widgets", "widgets_dir " + widgets},
		{"address http://127.0.0.1:8200", "address " + vaultAddr},
		{"\n:8080 {\n", "\nhttp://{addr} {\n"},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("Caddyfile.example has no %q any more: update this test", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	return cfg
}

// TestCaddyfileExampleRoutes runs Caddyfile.example: its health checks
// answer, widget calls reach widgetgate, and every request that matches
// no route, including paths that normalise out of /sidecar/, gets a JSON
// 404 problem instead of Caddy's empty 200.
func TestCaddyfileExampleRoutes(t *testing.T) {
	v := testenv.StartVault(t)
	v.Put(t, "widgetgate/context-keys", map[string]any{"current": testenv.RandomHex(t, 24)})
	gw := testenv.StartWidgetgate(t, exampleConfig(t, v.Addr), "VAULT_TOKEN="+v.Token)

	p := waitReady(t, gw.URL, 200, "")
	for _, name := range []string{"vault", "widgets", "context_keys", "shutdown"} {
		if st, _ := p.check(name); st != "ok" {
			t.Errorf("check %s: %s", name, p.raw)
		}
	}
	assertLive(t, gw.URL)

	for _, c := range []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/nothing/here"},
		{"POST", "/sidecar/widgets/%2e%2e/%2e%2e/apis/x"},
		{"POST", "/sidecar/%2e%2e/widgets/calendar/apis/getCalendarEvents"},
		{"GET", "/healthz"},
	} {
		r := send(c.method, gw.URL+c.path, "")
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.status != 404 || r.header.Get("Content-Type") != "application/problem+json" ||
			r.json["status"] != float64(404) || r.json["code"] != "not_found" || r.json["message"] == "" {
			t.Errorf("%s %s: %d %q %s, want a JSON 404 problem", c.method, c.path, r.status, r.header.Get("Content-Type"), r.raw)
		}
	}
	// Widget calls still reach widgetgate (this one lacks its signed context).
	r := send("POST", gw.URL+"/sidecar/widgets/calendar/apis/getCalendarEvents", `{}`)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.header.Get("Content-Type") != "application/problem+json" || r.json["code"] == "not_found" || r.status == 404 {
		t.Errorf("widget call: %d %s, want widgetgate's own problem", r.status, r.raw)
	}
}
