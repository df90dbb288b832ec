package admin

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
	"github.com/widgetgate/widgetgate/caddymodule/internal/memstore"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/caddymodule/internal/widgetdir"
)

// Canaries: every secret the flows below handle. None may reach the audit
// log.
const (
	canaryAdminToken   = "CANARY-admin-token-0123456789"
	canaryClientSecret = "CANARY-client-secret-7d1c"
	canaryCode         = "CANARY-authorization-code-51aa"
	canaryAccess       = "CANARY-access-token-c2f0"
	canaryRefresh      = "CANARY-refresh-token-9e3b"
	canaryPasted       = "CANARY-pasted-refresh-token-44d2"
)

// nopCache is the request path's cache, unused here.
type nopCache struct{}

func (nopCache) Store(*passport.Passport) {}
func (nopCache) Forget(string)            {}
func (nopCache) ForgetBindings(string)    {}

// lockedBuffer collects log lines from handlers on several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type auditWorld struct {
	t     *testing.T
	h     *Handler
	audit *lockedBuffer
	read  int // audit lines already returned by lines
}

// newAuditWorld is an admin handler on the in-memory store, connecting to
// a fake OAuth server that hands out the canary tokens.
func newAuditWorld(t *testing.T, actorHeader string) *auditWorld {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("code") != canaryCode || r.PostForm.Get("client_secret") != canaryClientSecret {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": canaryAccess, "refresh_token": canaryRefresh, "token_type": "Bearer", "expires_in": 3600})
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {})
	idp := httptest.NewServer(mux)
	t.Cleanup(idp.Close)

	registry := map[string]*provider.Provider{
		"custom:oauth": {Name: "custom:oauth", Kind: provider.KindOAuth2, AuthURL: idp.URL + "/authorize", TokenURL: idp.URL + "/token",
			AuthStyle: oauth2.AuthStyleInParams, PKCE: true, RevocationURL: idp.URL + "/revoke", DefaultEmail: "someone@example.com"},
		"appspace": {Name: "appspace", Kind: provider.KindAppspace, InstanceTokenPath: provider.AppspaceTokenPath},
	}
	creds := func(context.Context, *provider.Provider) (vaultstore.Credentials, error) {
		return vaultstore.Credentials{ClientID: "cid", ClientSecret: canaryClientSecret}, nil
	}
	store := memstore.New("")
	buf := &lockedBuffer{}
	h := &Handler{
		Store: store, Cache: nopCache{},
		Flow: &connect.Flow{
			Store: store, Lookup: func(n string) (*provider.Provider, bool) { p, ok := registry[n]; return p, ok },
			Credentials: creds, RedirectURL: "https://admin.example/admin/callback", HTTPClient: idp.Client(),
			DefaultLifetime: time.Hour,
			// Pasted credentials are accepted as they are: the first
			// redemption answers with a new token.
			Refresh: func(_ context.Context, p *passport.Passport) (*passport.Passport, error) {
				q := *p
				q.Status, q.AccessToken = passport.StatusActive, canaryAccess
				return &q, nil
			},
		},
		Providers:   func() map[string]*provider.Provider { return registry },
		Credentials: creds,
		Token:       []byte(canaryAdminToken),
		Origin:      "https://admin.example",
		Logger:      slog.New(slog.DiscardHandler),
		Audit:       slog.New(slog.NewJSONHandler(buf, nil)),
		ActorHeader: actorHeader,
	}
	return &auditWorld{t: t, h: h, audit: buf}
}

// do sends a request to the admin handler; headers are pairs.
func (w *auditWorld) do(method, path, body string, headers ...string) (int, map[string]any) {
	w.t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "https://admin.example"+path, rdr)
	r.RemoteAddr = "192.0.2.7:51234"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// lines returns the audit lines written since the last call.
func (w *auditWorld) lines() []map[string]any {
	w.t.Helper()
	var all []map[string]any
	sc := bufio.NewScanner(strings.NewReader(w.audit.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			w.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		all = append(all, m)
	}
	out := all[w.read:]
	w.read = len(all)
	return out
}

// expectLine checks that exactly one audit line came since the last call,
// with the fields of want (and the fixed ones).
func (w *auditWorld) expectLine(what string, want map[string]any) {
	w.t.Helper()
	got := w.lines()
	if len(got) != 1 {
		w.t.Fatalf("%s: %d audit lines, want 1: %v", what, len(got), got)
	}
	line := got[0]
	if line["msg"] != auditMessage || line["level"] != "INFO" || line["remote_ip"] != "192.0.2.7" {
		w.t.Errorf("%s: line %v", what, line)
	}
	for _, k := range []string{"action", "actor", "auth", "target", "outcome"} {
		if _, ok := line[k]; !ok {
			w.t.Errorf("%s: no %s in %v", what, k, line)
		}
	}
	for k, v := range want {
		gotV, _ := json.Marshal(line[k])
		wantV, _ := json.Marshal(v)
		if !bytes.Equal(gotV, wantV) {
			w.t.Errorf("%s: %s = %s, want %s (line %v)", what, k, gotV, wantV, line)
		}
	}
}

// TestAuditAdminActions: each admin action, done through the API and the
// OAuth callback, is one audit line with its action, actor, target and
// outcome; reads are not audited; refused attempts are, with their
// problem code. No secret used in the flows (admin token, client secret,
// authorization code, state, access and refresh tokens, pasted
// credentials) appears in the audit output.
func TestAuditAdminActions(t *testing.T) {
	w := newAuditWorld(t, "X-Remote-User")
	auth := []string{"Authorization", "Bearer " + canaryAdminToken, "X-Remote-User", "alice@example.com"}
	actor := map[string]any{"actor": "alice@example.com", "auth": "token"}
	with := func(m map[string]any) map[string]any {
		for k, v := range actor {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
		return m
	}

	status, out := w.do("POST", "/admin/api/passports", `{"provider":"custom:oauth","displayName":"Lobby calendar"}`, auth...)
	if status != 201 {
		t.Fatalf("create: %d %v", status, out)
	}
	id := out["id"].(string)
	w.expectLine("create", with(map[string]any{"action": "passport.create", "target": id, "outcome": "ok", "provider": "custom:oauth"}))

	status, out = w.do("POST", "/admin/api/passports/"+id+"/connect", "", auth...)
	if status != 200 {
		t.Fatalf("connect: %d %v", status, out)
	}
	authorize, _ := url.Parse(out["authorizeUrl"].(string))
	state := authorize.Query().Get("state")
	if state == "" {
		t.Fatalf("authorize URL %s has no state", authorize)
	}
	w.expectLine("connect start", with(map[string]any{"action": "passport.connect_start", "target": id, "outcome": "ok", "method": "oauth"}))

	// The provider redirects the administrator's browser back: no bearer
	// token, but the auth directive in front names the user.
	callback := "/admin/callback?" + url.Values{"state": {state}, "code": {canaryCode}}.Encode()
	if status, _ := w.do("GET", callback, "", "X-Remote-User", "alice@example.com"); status != 200 {
		t.Fatalf("callback: %d", status)
	}
	w.expectLine("connect complete", map[string]any{"action": "passport.connect_complete", "actor": "alice@example.com", "auth": "oauth_state",
		"target": id, "outcome": "ok", "method": "oauth", "provider": "custom:oauth"})
	if status, _ := w.do("GET", callback, ""); status != 400 {
		t.Fatalf("replayed callback: %d", status)
	}
	w.expectLine("replayed callback", map[string]any{"action": "passport.connect_complete", "actor": "admin", "auth": "oauth_state",
		"target": "", "outcome": "invalid_state"})

	status, out = w.do("POST", "/admin/api/passports", `{"provider":"appspace"}`, auth...)
	if status != 201 {
		t.Fatalf("create appspace: %d %v", status, out)
	}
	id2 := out["id"].(string)
	w.expectLine("create appspace", with(map[string]any{"action": "passport.create", "target": id2, "outcome": "ok", "provider": "appspace"}))
	pasted := `{"subjectId":"subject-1","refreshToken":"` + canaryPasted + `","instanceUrl":"https://appspace.example"}`
	if status, out := w.do("POST", "/admin/api/passports/"+id2+"/connect", pasted, auth...); status != 200 {
		t.Fatalf("pasted connect: %d %v", status, out)
	}
	w.expectLine("pasted connect", with(map[string]any{"action": "passport.connect_complete", "target": id2, "outcome": "ok", "method": "pasted"}))

	if status, out := w.do("PUT", "/admin/api/bindings/lobby-screen", `{"calendarAuth":"`+id+`","other":""}`, auth...); status != 200 {
		t.Fatalf("bindings: %d %v", status, out)
	}
	w.expectLine("bindings", with(map[string]any{"action": "bindings.update", "target": "lobby-screen", "outcome": "ok",
		"bindings": map[string]any{"calendarAuth": id}}))

	// Reads are not actions.
	for _, p := range []string{"/admin/api/passports", "/admin/api/passports/" + id, "/admin/api/bindings"} {
		if status, _ := w.do("GET", p, "", auth...); status != 200 {
			t.Fatalf("GET %s: %d", p, status)
		}
	}
	if got := w.lines(); len(got) != 0 {
		t.Errorf("reads were audited: %v", got)
	}

	if status, out := w.do("POST", "/admin/api/passports/"+id+"/disconnect", "", auth...); status != 200 {
		t.Fatalf("disconnect: %d %v", status, out)
	}
	w.expectLine("disconnect", with(map[string]any{"action": "passport.disconnect", "target": id, "outcome": "ok"}))
	if status, _ := w.do("DELETE", "/admin/api/passports/"+id2, "", auth...); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	w.expectLine("delete", with(map[string]any{"action": "passport.delete", "target": id2, "outcome": "ok"}))

	// Failures carry the problem code.
	if status, _ := w.do("POST", "/admin/api/passports/no-such-passport/disconnect", "", auth...); status != 404 {
		t.Fatalf("disconnect unknown: %d", status)
	}
	w.expectLine("disconnect unknown", with(map[string]any{"action": "passport.disconnect", "target": "no-such-passport", "outcome": "unknown_passport"}))
	if status, _ := w.do("DELETE", "/admin/api/passports/..", "", auth...); status != 400 {
		t.Fatalf("delete ..: %d", status)
	}
	w.expectLine("delete ..", with(map[string]any{"action": "passport.delete", "target": "", "outcome": "invalid_id"}))
	if status, _ := w.do("POST", "/admin/api/passports", `{"provider":"nope"}`, auth...); status != 400 {
		t.Fatalf("create unknown provider: %d", status)
	}
	w.expectLine("create unknown provider", with(map[string]any{"action": "passport.create", "target": "", "outcome": "invalid_request"}))

	// Refused before authorization: a wrong token, a cross-site page.
	// Without an auth directive in front, the header is only a claim.
	if status, _ := w.do("DELETE", "/admin/api/passports/"+id, "", "Authorization", "Bearer wrong-token-0123456789", "X-Remote-User", "mallory"); status != 401 {
		t.Fatalf("wrong token: %d", status)
	}
	w.expectLine("wrong token", map[string]any{"action": "passport.delete", "actor": "unauthenticated", "auth": "none",
		"target": id, "outcome": "admin_auth_required"})
	if status, _ := w.do("POST", "/admin/api/passports/"+id+"/disconnect", "", append(auth, "Origin", "https://evil.example")...); status != 403 {
		t.Fatalf("cross-origin: %d", status)
	}
	w.expectLine("cross-origin", map[string]any{"action": "passport.disconnect", "actor": "unauthenticated", "auth": "none",
		"target": id, "outcome": "cross_origin_request"})

	log := w.audit.String()
	for name, secret := range map[string]string{"admin token": canaryAdminToken, "client secret": canaryClientSecret,
		"authorization code": canaryCode, "state": state, "access token": canaryAccess, "refresh token": canaryRefresh,
		"pasted refresh token": canaryPasted} {
		if strings.Contains(log, secret) {
			t.Errorf("the audit log holds the %s", name)
		}
	}
}

// TestAuditActor: without actor_header the actor is "admin"; behind an
// auth directive the header names the actor (cleaned of control
// characters and bounded), and it is trusted for refusals too.
func TestAuditActor(t *testing.T) {
	w := newAuditWorld(t, "")
	auth := []string{"Authorization", "Bearer " + canaryAdminToken, "X-Remote-User", "alice"}
	if status, _ := w.do("PUT", "/admin/api/bindings/lobby", `{}`, auth...); status != 200 {
		t.Fatalf("bindings: %d", status)
	}
	w.expectLine("no actor header", map[string]any{"actor": "admin", "auth": "token", "action": "bindings.update", "outcome": "ok"})

	w = newAuditWorld(t, "Remote-User")
	w.h.Token, w.h.TrustAuthDirective = nil, true
	long := strings.Repeat("b", 300)
	if status, _ := w.do("PUT", "/admin/api/bindings/lobby", `{}`, "Remote-User", "bob\x1b[31m"+long); status != 200 {
		t.Fatalf("bindings: %d", status)
	}
	w.expectLine("auth directive", map[string]any{"actor": ("bob[31m" + long)[:maxActorBytes], "auth": "auth_directive"})
	if status, _ := w.do("PUT", "/admin/api/bindings/lobby", `{}`, "Remote-User", "carol", "Sec-Fetch-Site", "cross-site"); status != 403 {
		t.Fatalf("cross-site: %d", status)
	}
	w.expectLine("auth directive, cross-site", map[string]any{"actor": "carol", "auth": "auth_directive", "outcome": "cross_origin_request"})
	if status, _ := w.do("PUT", "/admin/api/bindings/lobby", `{}`); status != 200 {
		t.Fatalf("bindings: %d", status)
	}
	w.expectLine("auth directive, no header", map[string]any{"actor": "admin", "auth": "auth_directive"})
}

// widgetZip is a widget package ZIP whose one API calls url.
func widgetZip(t *testing.T, url string) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	f, _ := zw.Create("schema.json")
	fmt.Fprintf(f, `{"authentications": [{"authenticationType": "passport", "authKey": "k", "metadata": {"passportProvider": "google"}}],
  "authenticatedApis": [{"name": "a", "url": %q, "method": "GET", "authenticationKey": "k",
    "headers": {"Authorization": "Bearer {authorization.k.token}"}}]}`, url)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestAuditWidgetActions: uploads and deletes of widget packages, on a
// real widgets directory, are one audit line each, with the package's
// size; refusals carry their problem code and write nothing.
func TestAuditWidgetActions(t *testing.T) {
	w := newAuditWorld(t, "")
	dir := t.TempDir()
	wd, err := widgetdir.Open(dir, widgetdir.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	w.h.Widgets = wd
	auth := []string{"Authorization", "Bearer " + canaryAdminToken, "Content-Type", "application/zip"}
	good := widgetZip(t, "https://api.example.com/v1/items")

	if status, out := w.do("PUT", "/admin/api/widgets/cal", good, auth...); status != 200 {
		t.Fatalf("upload: %d %v", status, out)
	}
	w.expectLine("upload", map[string]any{"action": "widget.upload", "target": "cal", "outcome": "ok", "bytes": len(good)})
	if _, ok := wd.Widget("cal"); !ok {
		t.Fatal("the uploaded widget does not serve")
	}

	bad := widgetZip(t, "ftp://api.example.com/{param.x")
	status, out := w.do("PUT", "/admin/api/widgets/other", bad, auth...)
	if status != 422 || out["code"] != "invalid_package" || len(out["errors"].([]any)) == 0 {
		t.Fatalf("bad upload: %d %v", status, out)
	}
	w.expectLine("bad upload", map[string]any{"action": "widget.upload", "target": "other", "outcome": "invalid_package"})
	if _, err := os.Stat(filepath.Join(dir, "other.zip")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused package was written: %v", err)
	}

	if status, _ := w.do("PUT", "/admin/api/widgets/cal", good, "Authorization", "Bearer "+canaryAdminToken, "Content-Type", "text/plain"); status != 415 {
		t.Fatalf("upload as text/plain: %d", status)
	}
	w.expectLine("upload as text/plain", map[string]any{"action": "widget.upload", "target": "cal", "outcome": "unsupported_media_type"})

	if status, _ := w.do("DELETE", "/admin/api/widgets/cal", "", "Authorization", "Bearer "+canaryAdminToken); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	w.expectLine("delete", map[string]any{"action": "widget.delete", "target": "cal", "outcome": "ok"})
	if status, _ := w.do("DELETE", "/admin/api/widgets/cal", "", "Authorization", "Bearer "+canaryAdminToken); status != 404 {
		t.Fatalf("delete again: %d", status)
	}
	w.expectLine("delete again", map[string]any{"action": "widget.delete", "target": "cal", "outcome": "unknown_widget"})
	if status, _ := w.do("DELETE", "/admin/api/widgets/..", "", "Authorization", "Bearer "+canaryAdminToken); status != 400 {
		t.Fatalf("delete ..: %d", status)
	}
	w.expectLine("delete ..", map[string]any{"action": "widget.delete", "target": "", "outcome": "invalid_id"})
	if strings.Contains(w.audit.String(), canaryAdminToken) {
		t.Error("the audit log holds the admin token")
	}
}

// TestAuditConfigActions: setting an instance's configuration is audited
// with the names of the fields set, never their values; a refused write
// and a bad id are audited with their codes and write nothing.
func TestAuditConfigActions(t *testing.T) {
	w := newAuditWorld(t, "")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "clock", "schema.json"), `{"authentications": [], "authenticatedApis": [], "configuration": {"fields": [
	  {"name": "title", "type": "text", "default": "Welcome", "validation": {"maxLength": 40}},
	  {"name": "rows", "type": "number", "validation": {"min": 1, "max": 9}}]}}`)
	wd, err := widgetdir.Open(dir, widgetdir.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	w.h.Widgets = wd
	forgotten := &forgetRecorder{}
	w.h.Configs = forgotten
	auth := []string{"Authorization", "Bearer " + canaryAdminToken}
	const secretish = "CANARY-config-value-5e1f"

	status, out := w.do("PUT", "/admin/api/instances/lobby/config/clock", `{"values": {"title": "`+secretish+`", "rows": 4}}`, auth...)
	if status != 200 {
		t.Fatalf("put: %d %v", status, out)
	}
	w.expectLine("put", map[string]any{"action": "config.update", "target": "lobby/clock", "outcome": "ok", "fields": []string{"rows", "title"}})

	status, out = w.do("PUT", "/admin/api/instances/lobby/config/clock", `{"values": {"title": 5, "rows": 10}}`, auth...)
	if status != 422 || out["code"] != "invalid_configuration" {
		t.Fatalf("bad put: %d %v", status, out)
	}
	w.expectLine("bad put", map[string]any{"action": "config.update", "target": "lobby/clock", "outcome": "invalid_configuration"})
	for _, bad := range []string{"/admin/api/instances/../config/clock", "/admin/api/instances/lobby/config/..", "/admin/api/instances/lobby/config/a%2Fb"} {
		if status, _ := w.do("PUT", bad, `{"values": {}}`, auth...); status != 400 {
			t.Fatalf("PUT %s: %d, want 400", bad, status)
		}
		w.expectLine(bad, map[string]any{"action": "config.update", "target": "", "outcome": "invalid_id"})
	}
	status, out = w.do("GET", "/admin/api/instances/lobby/config/clock", "", auth...)
	if status != 200 || out["values"].(map[string]any)["title"] != secretish {
		t.Fatalf("get after refusals: %d %v (a refused write changed the values?)", status, out)
	}
	if len(w.lines()) != 0 {
		t.Error("a read was audited")
	}
	if status, _ := w.do("DELETE", "/admin/api/instances/lobby/config/clock", "", auth...); status != 204 {
		t.Fatalf("reset: %d", status)
	}
	w.expectLine("reset", map[string]any{"action": "config.reset", "target": "lobby/clock", "outcome": "ok"})
	if want := []string{"lobby/clock", "lobby/clock"}; !slices.Equal(forgotten.targets, want) {
		t.Errorf("the request path's cache was told of %v, want %v (the put and the reset, not the refusals)", forgotten.targets, want)
	}
	// Setting nothing (every field emptied) is the defaults: no document.
	if status, out := w.do("PUT", "/admin/api/instances/lobby/config/clock", `{"values": {"title": "", "rows": null}}`, auth...); status != 200 {
		t.Fatalf("empty put: %d %v", status, out)
	}
	w.lines()
	if ids, err := w.h.Store.ListInstances(context.Background()); err != nil || slices.Contains(ids, "lobby") {
		t.Errorf("after setting nothing, instances = %v, %v: a document was written", ids, err)
	}
	if strings.Contains(w.audit.String(), secretish) {
		t.Error("the audit log holds a configuration value")
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// forgetRecorder is a ConfigCache that records what it is told.
type forgetRecorder struct{ targets []string }

func (f *forgetRecorder) Forget(instance, widget string) {
	f.targets = append(f.targets, instance+"/"+widget)
}
