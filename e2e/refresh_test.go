package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// TestUpstream401RefreshAndRetry: a provider that refuses a token we
// thought valid gets one forced refresh and one retry; a second 401 goes
// to the widget in the envelope. The refresh uses the custom passport
// bundled in my-saas, whose literal client secret is imported into Vault.
func TestUpstream401RefreshAndRetry(t *testing.T) {
	e := start(t, options{})
	e.provider.AddToken("at-1")
	e.provider.AddRefreshToken("rt-1")
	e.vault.Put(t, "widgetgate/passports/pp", map[string]any{"provider": "custom:my-api-connector", "status": "active",
		"access_token": "at-1", "token_type": "Bearer", "refresh_token": "rt-1",
		"expiry": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	e.bind(t, "screen", map[string]any{"myApiAuth": "pp", "labAuth": "pp"})
	inst := []string{"X-Widget-Instance", "screen"}

	e.provider.RevokeToken("at-1") // the provider revokes it early
	r := e.call(t, "POST", "/sidecar/widgets/my-saas/apis/getData", `{}`, inst...)
	if r.status != 200 || r.json["isSuccess"] != true {
		t.Fatalf("call after revocation: %d %s", r.status, r.raw)
	}
	if n := e.provider.TokenCalls(); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	got := e.provider.Requests()
	if len(got) != 2 || got[0].Header.Get("Authorization") != "Bearer at-1" || got[1].Header.Get("Authorization") == "Bearer at-1" {
		t.Errorf("provider saw %d requests; want the refused one then a retry with the new token", len(got))
	}
	sec, err := e.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/pp")
	if err != nil || sec.Data["refresh_token"] == "rt-1" || sec.Data["access_token"] == "at-1" {
		t.Errorf("Vault was not updated with the rotated tokens: %v", err)
	}

	// The token was refreshed moments ago: another 401 goes to the widget
	// as the provider sent it, with no second refresh and no retry.
	e.provider.Reset()
	r = e.call(t, "POST", "/sidecar/widgets/lab/apis/always401", `{}`, inst...)
	if r.status != 200 || r.json["statusCode"] != 401.0 || r.json["isSuccess"] != false {
		t.Fatalf("a 401 for a fresh token must reach the widget in the envelope: %d %s", r.status, r.raw)
	}
	if n := len(e.provider.Requests()); n != 1 {
		t.Errorf("provider saw %d calls, want 1 (no retry within forced_interval)", n)
	}
	if n := e.provider.TokenCalls(); n != 1 {
		t.Errorf("%d refreshes in all, want 1 (forced refreshes are bounded per passport)", n)
	}

	// The secret written in the package was imported into Vault, with a warning.
	testenv.WaitFor(t, 10*time.Second, "the bundled secret in Vault", func() error {
		_, err := e.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/providers/custom:my-api-connector")
		return err
	})
	e.gw.WaitLog(t, "contains an OAuth client secret")
	if strings.Contains(e.gw.FinalLog(t), "demo-client-secret") {
		t.Error("the client secret appears in the log")
	}
}

// TestRedemptionOutlivesReloadAndShutdown: once a refresh token has been
// sent to the provider, its answer is awaited and the rotated token
// written to Vault whatever happens meanwhile: a config reload, a SIGTERM,
// or an answer later than token_timeout. The stand-in's strict-rotation
// endpoint commits the rotation before it answers late, so a dropped
// answer would leave Vault with a refresh token the provider refuses.
func TestRedemptionOutlivesReloadAndShutdown(t *testing.T) {
	cases := []struct {
		name         string
		tokenTimeout string
		answerAfter  time.Duration
		fault        string // "reload" or "sigterm"
	}{
		{"reload, answer after 4s", "10s", 4 * time.Second, "reload"},
		{"reload, answer after token_timeout", "1s", 3 * time.Second, "reload"},
		{"SIGTERM, answer after 4s", "10s", 4 * time.Second, "sigterm"},
		{"SIGTERM, answer after token_timeout", "1s", 3 * time.Second, "sigterm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, options{globalExtra: "refresh {\n\t\t\ttoken_timeout " + tc.tokenTimeout + "\n\t\t}"})
			e.provider.AddRefreshToken("rt-1")
			e.vault.Put(t, "widgetgate/passports/pp", map[string]any{"provider": "custom:my-api-connector", "status": "active",
				"access_token": "at-expired", "token_type": "Bearer", "refresh_token": "rt-1",
				"expiry": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
			e.bind(t, "screen", map[string]any{"myApiAuth": "pp"})
			arrived := make(chan struct{}, 1)
			e.provider.OnToken(func(*http.Request) {
				select {
				case arrived <- struct{}{}:
				default:
				}
			})
			e.provider.DelayTokenAnswers(tc.answerAfter)

			answered := make(chan reply, 1)
			go func() {
				answered <- e.tryCall("POST", "/sidecar/widgets/my-saas/apis/getData", `{}`, "X-Widget-Instance", "screen")
			}()
			select {
			case <-arrived:
			case <-time.After(30 * time.Second):
				t.Fatal("the call never reached the token endpoint")
			}
			switch tc.fault {
			case "reload":
				e.gw.Reload(t)
			case "sigterm":
				e.gw.Signal(t, syscall.SIGTERM)
			}
			r := <-answered
			if r.status != 200 || r.json["isSuccess"] != true {
				t.Errorf("the call in flight got %d %s; want the envelope with the refreshed token", r.status, r.raw)
			}
			if tc.fault == "sigterm" {
				select {
				case <-e.gw.Done():
				case <-time.After(60 * time.Second):
					t.Fatal("widgetgate did not exit after SIGTERM")
				}
			}
			sec, err := e.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/pp")
			if err != nil {
				t.Fatal(err)
			}
			rt, _ := sec.Data["refresh_token"].(string)
			if !e.provider.RefreshTokenValid(rt) {
				t.Errorf("Vault holds refresh token %q, which the provider no longer accepts: the rotated one was lost", rt)
			}
			if sec.Data["status"] != "active" {
				t.Errorf("passport status %v, want active", sec.Data["status"])
			}
			if tc.fault == "reload" {
				r := e.call(t, "POST", "/sidecar/widgets/my-saas/apis/getData", `{}`, "X-Widget-Instance", "screen")
				if r.status != 200 || r.json["isSuccess"] != true {
					t.Errorf("call after the reload: %d %s", r.status, r.raw)
				}
			}
			if n := e.provider.TokenCalls(); n != 1 {
				t.Errorf("%d redemptions, want exactly 1", n)
			}
		})
	}
}

// TestAlways401BoundsForcedRefreshes: an API that refuses every token must
// not turn each call into a redemption. 200 calls over two replicas
// sharing a Vault: one forced refresh in all (the refresh time is shared
// through Vault), and every call gets the provider's 401 in its envelope.
func TestAlways401BoundsForcedRefreshes(t *testing.T) {
	e := start(t, options{})
	second := e.replica(t)
	e.provider.AddToken("at-1")
	e.provider.AddRefreshToken("rt-1")
	e.vault.Put(t, "widgetgate/passports/pp", map[string]any{"provider": "custom:my-api-connector", "status": "active",
		"access_token": "at-1", "token_type": "Bearer", "refresh_token": "rt-1",
		"expiry": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	e.bind(t, "screen", map[string]any{"labAuth": "pp"})

	const calls, workers = 200, 20
	jobs := make(chan string, calls)
	for i := range calls {
		if i%2 == 0 {
			jobs <- e.gw.URL
		} else {
			jobs <- second.URL
		}
	}
	close(jobs)
	var wg sync.WaitGroup
	replies := make(chan reply, calls)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for base := range jobs {
				replies <- postJSON(base+"/sidecar/widgets/lab/apis/always401", `{}`, "X-Widget-Instance", "screen")
			}
		}()
	}
	wg.Wait()
	close(replies)
	for r := range replies {
		if r.err != nil || r.status != 200 || r.json["statusCode"] != 401.0 {
			t.Fatalf("want the provider's 401 in an envelope, got %d %s (%v)", r.status, r.raw, r.err)
		}
	}
	if n := e.provider.TokenCalls(); n != 1 {
		t.Errorf("%d redemptions for %d refused calls, want 1", n, calls)
	}
	// Each call reached the provider once, plus one retry for a call that
	// still held the old token when the one refresh landed: at most one
	// per worker and replica (without the bound: one per call).
	if n, most := len(e.provider.Requests()), calls+2*workers; n > most {
		t.Errorf("the provider saw %d requests for %d calls, want at most %d", n, calls, most)
	}
}
