package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// refWidget is a widget package whose bundled passport names its client
// secret by Vault reference and redeems at tokenURL.
func refWidget(secretRef, tokenURL string) map[string]string {
	pass, _ := json.Marshal(map[string]any{
		"name": "Ref", "applicationName": "custom", "authenticationType": "OAuth", "isCustomApplication": true,
		"customApplicationInfo": map[string]any{"name": "ref-connector", "displayName": "Ref", "description": "Ref", "authenticationType": "OAuth",
			"parentName": "custom", "categoryType": "Custom", "metadata": map[string]any{
				"clientId": "ref-client", "clientSecret": secretRef,
				"authenticationUrl": "http://127.0.0.1:8931/oauth/authorize", "tokenUrl": tokenURL,
				"scope": "read"}},
		"metadata": map[string]any{},
	})
	schema, _ := json.Marshal(map[string]any{
		"passport": map[string]any{"filePath": "passport/ref.json"},
		"authentications": []any{map[string]any{"label": "Ref", "authenticationType": "passport", "authKey": "refAuth",
			"metadata": map[string]any{"passportProvider": "custom:ref-connector"}}},
		"authenticatedApis": []any{map[string]any{"label": "data", "name": "getData", "url": "http://127.0.0.1:8931/v1/data",
			"method": "GET", "authenticationKey": "refAuth",
			"headers": map[string]string{"Authorization": "Bearer {authorization.refAuth.token}"}}},
	})
	return map[string]string{"schema.json": string(schema), "passport/ref.json": string(pass), "widget.html": "<html><head></head><body></body></html>"}
}

// TestVaultSecretRef: a bundled passport's clientSecret
// "vault:<path>#<field>" is read from Vault and sent to the token
// endpoint.
func TestVaultSecretRef(t *testing.T) {
	e := start(t, options{extraWidgets: map[string]map[string]string{
		"refsaas": refWidget("vault:widgetgate/providers/custom:ref-connector#client_secret", "http://127.0.0.1:8931/oauth/token")}})
	e.vault.Put(t, "widgetgate/providers/custom:ref-connector", map[string]any{"client_secret": "secret-from-vault"})
	e.provider.AddRefreshToken("rt-1")
	e.vault.Put(t, "widgetgate/passports/pp", map[string]any{"provider": "custom:ref-connector", "status": "active",
		"access_token": "at-expired", "token_type": "Bearer", "refresh_token": "rt-1",
		"expiry": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
	e.bind(t, "screen", map[string]any{"refAuth": "pp"})
	var mu sync.Mutex
	var sentSecret string
	e.provider.OnToken(func(r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		_, secret, ok := r.BasicAuth()
		if !ok {
			secret = form.Get("client_secret")
		}
		mu.Lock()
		sentSecret = secret
		mu.Unlock()
	})
	r := e.call(t, "POST", "/sidecar/widgets/refsaas/apis/getData", `{}`, "X-Widget-Instance", "screen")
	if r.status != 200 || r.json["isSuccess"] != true {
		t.Fatalf("call needing a refresh with a Vault-referenced secret: %d %s", r.status, r.raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if sentSecret != "secret-from-vault" {
		t.Errorf("the token endpoint got client secret %q, want the one in Vault", sentSecret)
	}
}

// TestVaultSecretRefConfined: a package may only name secrets under
// <prefix>/providers/: one naming the context keys or another passport's
// refresh token fails the config, before anything is read or sent.
func TestVaultSecretRefConfined(t *testing.T) {
	for _, ref := range []string{
		"vault:widgetgate/context-keys#current",
		"vault:widgetgate/passports/other#refresh_token",
		"vault:widgetgate/providers/a/b#client_secret",
		"vault:other/providers/x#client_secret",
	} {
		t.Run(ref, func(t *testing.T) {
			dir := t.TempDir()
			writeExtraWidgets(t, dir, "http://127.0.0.1:1", map[string]map[string]string{"refsaas": refWidget(ref, "http://127.0.0.1:8931/oauth/token")})
			cfg := filepath.Join(t.TempDir(), "Caddyfile")
			os.WriteFile(cfg, []byte("{\n\twidgetgate {\n\t\twidgets_dir "+dir+"\n\t\tallow_http_upstreams\n\t\tupstream {\n\t\t\tegress_allow 127.0.0.1\n\t\t}\n\t}\n}\n:0 {\n\twidgetgate\n}\n"), 0o600)
			out, err := testenv.Run(t, "validate", "--config", cfg, "--adapter", "caddyfile")
			if err == nil {
				t.Fatalf("validate accepted a package naming %s:\n%s", ref, out)
			}
			if !strings.Contains(out, "is not under widgetgate/providers/") || !strings.Contains(out, "clientSecret") {
				t.Errorf("the error should name the field and the rule:\n%s", out)
			}
		})
	}
}

// TestTokenRequestsObeyEgress: a refresh goes to a provider as much as a
// call does, under the same egress policy. The passport's token URL names
// the stand-in as "localhost", which resolves to loopback and is not
// allow-listed (only the literal 127.0.0.1 is): the redemption is refused
// before it is sent.
func TestTokenRequestsObeyEgress(t *testing.T) {
	e := start(t, options{extraWidgets: map[string]map[string]string{
		"refsaas": refWidget("literal-secret", "http://localhost:8931/oauth/token")}})
	e.provider.AddRefreshToken("rt-1")
	e.vault.Put(t, "widgetgate/passports/pp", map[string]any{"provider": "custom:ref-connector", "status": "active",
		"access_token": "at-expired", "token_type": "Bearer", "refresh_token": "rt-1",
		"expiry": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
	e.bind(t, "screen", map[string]any{"refAuth": "pp"})

	r := e.call(t, "POST", "/sidecar/widgets/refsaas/apis/getData", `{}`, "X-Widget-Instance", "screen")
	if r.status != 502 || r.json["code"] != "token_refresh_failed" {
		t.Errorf("want 502 token_refresh_failed, got %d %s", r.status, r.raw)
	}
	if n := e.provider.TokenCalls(); n != 0 {
		t.Errorf("the token endpoint behind a denied address got %d requests, want 0", n)
	}
	// The log says the egress policy refused the token endpoint.
	e.gw.WaitLog(t, "egress denied")
}
