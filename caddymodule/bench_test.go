package caddymodule

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// BenchmarkHotPath measures one widget call through the handler with the
// token cached: params parsing, lookup, rendering, the loopback call to the
// stand-in provider and the envelope. It leaves out Caddy's HTTP server
// (measured by the load harness) to show what widgetgate itself costs.
//
//	make bench   # or: VAULT_BIN=$(scripts/vault.sh) go test -run '^$' -bench HotPath ./caddymodule/
func BenchmarkHotPath(b *testing.B) {
	v := testenv.StartVault(b)
	// A fixed 1 KB JSON answer: the benchmark measures widgetgate, not a
	// provider. It still checks the token, so a broken injection fails.
	payload := []byte(`{"kind":"calendar#events","items":[` + strings.Repeat(`{"id":"evt","summary":"Team stand-up"},`, 25) + `{}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer bench-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.Write(payload)
	}))
	defer srv.Close()
	v.PutPassport(b, "pp", "google", "bench-token")
	v.Put(b, "widgetgate/bindings/screen", map[string]any{"googleCalAuth": "pp"})

	dir := b.TempDir()
	schema, err := os.ReadFile("../examples/widgets/calendar/schema.json")
	if err != nil {
		b.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "calendar"), 0o755)
	os.WriteFile(filepath.Join(dir, "calendar", "schema.json"), bytes.ReplaceAll(schema, []byte("http://127.0.0.1:8931"), []byte(srv.URL)), 0o644)

	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	app := &App{WidgetsDir: dir, AllowHTTPUpstreams: true, Vault: VaultConfig{Address: v.Addr, Token: v.Token},
		Upstream: UpstreamConfig{EgressAllow: []string{"127.0.0.1"}}}
	if err := app.provision(ctx, zap.NewNop()); err != nil {
		b.Fatal(err)
	}
	defer app.Cleanup()
	h := &Handler{}
	h.setup(app, zap.NewNop())

	const body = `{"params": {"maxResults": "2", "orderBy": "startTime", "singleEvents": "true"}}`
	for _, mode := range []struct{ name, suffix, want string }{
		{"envelope", "", `"isSuccess":true`},
		{"raw", "/raw", `"calendar#events"`},
	} {
		b.Run(mode.name, func(b *testing.B) {
			call := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest("POST", "/sidecar/widgets/calendar/apis/getCalendarEvents"+mode.suffix, strings.NewReader(body))
				req.Header.Set("X-Widget-Instance", "screen")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req, nil)
				return rec
			}
			if rec := call(); rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(mode.want)) {
				b.Fatalf("warm-up call: %d %s", rec.Code, rec.Body)
			}
			reads := app.cache.StoreReads()
			b.ReportAllocs()
			for b.Loop() {
				if rec := call(); rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
			b.ReportMetric(float64(app.cache.StoreReads()-reads)/float64(b.N), "vault-reads/op")
		})
	}
}
