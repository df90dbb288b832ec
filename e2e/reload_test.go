package e2e

import (
	"strings"
	"testing"
)

// TestReloadDuringVaultOutage: the token cache, the refresher and the
// Vault client belong to the app's long-lived state, which a reload keeps
// when the Vault and cache settings are unchanged. So a reload while Vault
// is down (here: a changed upstream timeout) keeps cached calls answering
// 200 instead of turning them into 503 vault_unavailable.
func TestReloadDuringVaultOutage(t *testing.T) {
	e := start(t, options{})
	e.provider.AddToken("at-1")
	e.vault.PutPassport(t, "pp", "custom:my-api-connector", "at-1")
	e.bind(t, "screen", map[string]any{"myApiAuth": "pp"})
	call := func() reply {
		return e.call(t, "POST", "/sidecar/widgets/my-saas/apis/getData", `{}`, "X-Widget-Instance", "screen")
	}
	if r := call(); r.status != 200 {
		t.Fatalf("warming the cache: %d %s", r.status, r.raw)
	}
	e.vault.Stop()
	if r := call(); r.status != 200 {
		t.Fatalf("from cache with Vault down, before the reload: %d %s", r.status, r.raw)
	}
	e.gw.ReloadWith(t, strings.Replace(e.config, "timeout 2s", "timeout 3s", 1))
	if r := call(); r.status != 200 {
		t.Errorf("from cache with Vault down, after a reload: %d %s", r.status, r.raw)
	}
}
