package e2e

import (
	"context"
	"strings"
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

	e.provider.Reset()
	r = e.call(t, "POST", "/sidecar/widgets/lab/apis/always401", `{}`, inst...)
	if r.status != 200 || r.json["statusCode"] != 401.0 || r.json["isSuccess"] != false {
		t.Fatalf("a second 401 must reach the widget in the envelope: %d %s", r.status, r.raw)
	}
	if n := len(e.provider.Requests()); n != 2 {
		t.Errorf("provider saw %d calls, want the call and one retry", n)
	}
	if n := e.provider.TokenCalls(); n != 2 {
		t.Errorf("%d refreshes in all, want 2 (one per refused call)", n)
	}

	// The secret written in the package was imported into Vault, with a warning.
	testenv.WaitFor(t, 10*time.Second, "the bundled secret in Vault", func() error {
		_, err := e.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/providers/custom:my-api-connector")
		return err
	})
	if !strings.Contains(e.gw.Log(), "contains an OAuth client secret") {
		t.Error("no warning about the client secret in the widget package")
	}
	if strings.Contains(e.gw.Log(), "demo-client-secret") {
		t.Error("the client secret appears in the log")
	}
}
