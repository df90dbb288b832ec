// Package e2e runs widgetgate as users do: the real binary (Caddy with our
// module) configured by a Caddyfile, reading passports from a real Vault
// dev server, calling a stand-in provider. The stand-in (internal/testenv/standin)
// replaces Google and friends, which cannot be reached from here; it
// answers with their real response and error formats.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/widgetgate/widgetgate/internal/testenv"
	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

// env is one running stack: Vault, a stand-in provider, widgetgate.
type env struct {
	vault    *testenv.Vault
	provider *standin.Provider
	provURL  string
	gw       *testenv.Widgetgate
	config   string // the Caddyfile, for starting more replicas
}

// replica starts another widgetgate with the same config and Vault: a
// second sidecar behind the same load balancer.
func (e *env) replica(t *testing.T) *testenv.Widgetgate {
	return testenv.StartWidgetgate(t, e.config, "VAULT_TOKEN="+e.vault.Token)
}

type options struct {
	handlerBlock string            // lines inside the handler's widgetgate block
	globalExtra  string            // lines inside the global widgetgate block
	debug        bool              // log at debug level
	labAPIs      map[string]string // extra lab APIs: name -> URL
	// extraWidgets are test-only widget packages: widgetId -> file name ->
	// content, with http://127.0.0.1:8931 pointed at the stand-in.
	extraWidgets map[string]map[string]string
	// extraRoutes are Caddyfile lines added to the site block (e.g. the
	// widgetgate_admin route).
	extraRoutes string
	// serverExtra are Caddy global options (e.g. shutdown_delay).
	serverExtra string
}

// start brings up a stack serving the example widgets (pointed at the
// stand-in instead of 127.0.0.1:8931) plus the test-only "lab" widget.
func start(t *testing.T, opt options) *env {
	t.Helper()
	e := &env{vault: testenv.StartVault(t), provider: standin.New()}
	e.provURL = serveProvider(t, e.provider)
	e.config = sidecarConfig(t, e.vault.Addr, e.provURL, opt)
	e.gw = testenv.StartWidgetgate(t, e.config, "VAULT_TOKEN="+e.vault.Token)
	return e
}

// serveProvider serves the stand-in provider on a loopback port.
func serveProvider(t *testing.T, p *standin.Provider) string {
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// sidecarConfig writes the widgets (the examples, the lab widget and
// opt's, pointed at the stand-in at provURL) and returns the Caddyfile of
// a sidecar using the Vault at vaultAddr.
func sidecarConfig(t *testing.T, vaultAddr, provURL string, opt options) string {
	t.Helper()
	widgets := t.TempDir()
	copyWidgets(t, filepath.Join("..", "examples", "widgets"), widgets, provURL)
	writeLabWidget(t, widgets, provURL, opt.labAPIs)
	writeExtraWidgets(t, widgets, provURL, opt.extraWidgets)

	debug := ""
	if opt.debug {
		debug = "debug"
	}
	return `{
	` + debug + `
	admin off
	auto_https off
	` + opt.serverExtra + `
	widgetgate {
		widgets_dir ` + widgets + `
		allow_http_upstreams
		vault {
			address ` + vaultAddr + `
		}
		upstream {
			timeout 2s
			egress_allow 127.0.0.1
		}
		` + opt.globalExtra + `
	}
}
http://{addr} {
	handle /metrics {
		metrics
	}
	` + opt.extraRoutes + `
	route /sidecar/* {
		widgetgate {
			` + opt.handlerBlock + `
		}
	}
}
`
}

// copyWidgets copies the example widgets, pointing their URLs at provURL.
func copyWidgets(t *testing.T, from, to, provURL string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte("http://127.0.0.1:8931"), []byte(provURL))
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// withHeader adds a header to a lab API's schema entry.
func withHeader(api map[string]any, name, value string) map[string]any {
	api["headers"].(map[string]string)[name] = value
	return api
}

// writeLabWidget writes a test-only widget whose APIs reach the stand-in's
// utility routes (text, images, redirects, slow and huge answers).
func writeLabWidget(t *testing.T, dir, provURL string, extra map[string]string) {
	t.Helper()
	api := func(name, url string) map[string]any {
		return map[string]any{"label": name, "name": name, "url": url, "method": "GET", "authenticationKey": "labAuth",
			"headers": map[string]string{"Authorization": "Bearer {authorization.labAuth.token}"}}
	}
	schema := map[string]any{
		// The lab refreshes against the stand-in's token endpoint through the
		// custom passport bundled in examples/widgets/my-saas.
		"authentications": []any{map[string]any{"authenticationType": "passport", "authKey": "labAuth",
			"metadata": map[string]any{"passportProvider": "custom:my-api-connector"}}},
		"authenticatedApis": []any{
			api("text", provURL+"/text"),
			api("image", provURL+"/image.png"),
			api("notFound", provURL+"/status/404"),
			api("redirect", provURL+"/redirect"),
			api("cookie", provURL+"/set-cookie"),
			api("big", provURL+"/big?bytes=3000000"),
			api("slow", provURL+"/slow?ms=10000"),
			api("stream", provURL+"/stream?bytes=5000000"),
			// More than the socket buffers between stand-in and reader hold.
			api("hugeStream", provURL+"/stream?bytes=67108864"),
			api("unreachable", "http://"+closedAddr(t)+"/x"),
			api("always401", provURL+"/status/401"),
			api("echo", provURL+"/echo"),
			api("echoError", provURL+"/echo/error"),
			api("echoMalformed", provURL+"/echo/malformed"),
			// A schema may ask for gzip; widgetgate's Accept-Encoding wins,
			// and this route compresses anyway.
			withHeader(api("echoGzip", provURL+"/echo/gzip"), "Accept-Encoding", "gzip"),
			api("echoStatus", provURL+"/echo/status"),
			api("echoEscapedMalformed", provURL+"/echo/escaped-malformed"),
			api("echoSeen", provURL+"/echo/seen"),
			// Same stand-in, by a name that resolves to loopback: not allow-listed.
			api("byLocalhost", strings.Replace(provURL, "127.0.0.1", "localhost", 1)+"/text"),
		},
	}
	for name, url := range extra {
		schema["authenticatedApis"] = append(schema["authenticatedApis"].([]any), api(name, url))
	}
	b, _ := json.Marshal(schema)
	if err := os.MkdirAll(filepath.Join(dir, "lab"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lab", "schema.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	return testenv.FreeAddr(t)
}

// bind stores the bindings of instance in Vault.
func (e *env) bind(t *testing.T, instance string, bindings map[string]any) {
	e.vault.Put(t, "widgetgate/bindings/"+instance, bindings)
}

// reply is a response from widgetgate.
type reply struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
	err    error // tryCall only: the call got no answer
}

// call sends a widget call. headers are pairs of name, value.
func (e *env) call(t *testing.T, method, path, body string, headers ...string) reply {
	t.Helper()
	r := e.tryCall(method, path, body, headers...)
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r
}

// tryCall is call for other goroutines than the test's: a failure is in
// the reply's err.
func (e *env) tryCall(method, path, body string, headers ...string) reply {
	return send(method, e.gw.URL+path, body, headers...)
}

// postJSON POSTs body to url (any replica's), as tryCall does.
func postJSON(url, body string, headers ...string) reply {
	return send("POST", url, body, headers...)
}

func send(method, url, body string, headers ...string) reply {
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rdr)
	if err != nil {
		return reply{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{err: fmt.Errorf("%s %s: %w", method, url, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{err: err}
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	json.Unmarshal(raw, &r.json)
	return r
}

// writeExtraWidgets writes test-only widget packages into dir, pointing
// their URLs at provURL as copyWidgets does.
func writeExtraWidgets(t *testing.T, dir, provURL string, pkgs map[string]map[string]string) {
	t.Helper()
	for id, files := range pkgs {
		for name, content := range files {
			p := filepath.Join(dir, id, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			content = strings.ReplaceAll(content, "http://127.0.0.1:8931", provURL)
			// The stand-in by a name resolving to loopback (not allow-listed).
			content = strings.ReplaceAll(content, "http://localhost:8931", strings.Replace(provURL, "127.0.0.1", "localhost", 1))
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
