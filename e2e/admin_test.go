package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
	"github.com/widgetgate/widgetgate/internal/testenv/authserver"
)

const (
	asClientID     = "crm-client"
	asClientSecret = "crm-secret-CANARY-51f"
	adminToken     = "admin-token-0123456789abcdef"
	lbURL          = "http://lb.example/admin" // every replica's public URL: they sit behind one load balancer
	lbOrigin       = "http://lb.example"
	// The second mount, /ops/, is behind Caddy's basic_auth with
	// trust_auth_directive: the set-up where a browser's cached credentials
	// make cross-site requests dangerous.
	opsUser     = "ops"
	opsPassword = "ops-password-4c1f"
)

// adminEnv is a stack with the admin handler and stand-in authorization
// servers, one per passport variant under test.
type adminEnv struct {
	*env
	servers map[string]*authserver.Server
}

// crmPassport is a bundled custom passport pointing at authorization server as.
func crmPassport(name, as string, meta map[string]any) string {
	m := map[string]any{
		"clientId": asClientID, "clientSecret": asClientSecret,
		"authenticationUrl": as + "/authorize", "tokenUrl": as + "/token", "profileUrl": as + "/userinfo",
		"revocationUrl":           as + "/revoke",
		"profileAccountEmailPath": "$.data.mail", "profileAccountIdPath": "$.data.uid", "profileAccountNamePath": "$.data.display",
		"scope": "read write",
	}
	for k, v := range meta {
		m[k] = v
	}
	doc := map[string]any{
		"name": name, "applicationName": "custom", "authenticationType": "OAuth", "isCustomApplication": true,
		"customApplicationInfo": map[string]any{"name": name, "displayName": name, "description": "test CRM",
			"categoryType": "Custom", "authenticationType": "OAuth", "parentName": "custom", "metadata": m},
		"metadata": map[string]any{},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

func crmSchema(name string) string {
	return `{"passport": {"filePath": "passport/` + name + `.json"},
	  "authentications": [{"authenticationType": "passport", "authKey": "crm", "metadata": {"passportProvider": "custom:` + name + `"}}],
	  "authenticatedApis": [{"label": "Data", "name": "getData", "url": "http://127.0.0.1:8931/v1/data", "method": "GET",
	    "authenticationKey": "crm", "headers": {"Authorization": "Bearer {authorization.crm.token}"}}]}`
}

func startAdmin(t *testing.T) *adminEnv {
	t.Helper()
	return startAdminWith(t, options{})
}

// startAdminWith is startAdmin with more global options (opt.globalExtra).
func startAdminWith(t *testing.T, opt options) *adminEnv {
	t.Helper()
	profile := map[string]any{"data": map[string]any{"mail": "ada@example.com", "uid": 42, "display": "Ada Lovelace"}}
	variants := map[string]authserver.Config{
		"crm":         {ParamNames: map[string]string{"client_id": "app_id"}},
		"crm-comma":   {},
		"crm-idtoken": {IDTokenClaims: map[string]any{"email": "grace@example.com", "sub": "g-1", "name": "Grace Hopper"}, IDTokenKey: []byte("id-token-key-0123456789abcdef012")},
		"crm-meta":    {},
		"crm-nopath":  {},
	}
	a := &adminEnv{servers: map[string]*authserver.Server{}}
	widgets := map[string]map[string]string{}
	var prov func(string) // set once the stand-in exists: issued tokens work at the API stand-in
	for name, cfg := range variants {
		cfg.ClientID, cfg.ClientSecret, cfg.Profile = asClientID, asClientSecret, profile
		cfg.Issued = func(tok string) { prov(tok) }
		s := authserver.New(cfg)
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		a.servers[name] = s
		meta := map[string]any{}
		switch name {
		case "crm":
			meta["authenticationParamsMapper"] = map[string]string{"client_id": "app_id"}
		case "crm-comma":
			meta["scope"], meta["scopeSeparator"] = "read,write", ","
		case "crm-idtoken":
			meta["extractProfileFromIdToken"] = true
			meta["profileAccountEmailPath"], meta["profileAccountIdPath"], meta["profileAccountNamePath"] = "$.email", "$.sub", "$.name"
		case "crm-meta":
			meta["requiredAuthenticationMetadata"] = "tenant_id"
		case "crm-nopath":
			meta["profileAccountEmailPath"], meta["defaultProfileAccountEmail"] = "$.nothing.here", "unknown@example.com"
			meta["profileAccountNamePath"], meta["defaultProfileAccountName"] = "$.data.missing", "Someone"
		}
		widgets[name] = map[string]string{"schema.json": crmSchema(name), "passport/" + name + ".json": crmPassport(name, srv.URL, meta)}
	}
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	os.WriteFile(tokenFile, []byte(adminToken+"\n"), 0o600)
	// bcrypt at its lowest cost: basic_auth checks it on every request.
	hash, err := testenv.Run(t, "hash-password", "--algorithm", "bcrypt", "--bcrypt-cost", "4", "--plaintext", opsPassword)
	if err != nil {
		t.Fatalf("hash-password: %v\n%s", err, hash)
	}
	a.env = start(t, options{
		globalExtra:  opt.globalExtra,
		extraWidgets: widgets,
		extraRoutes: "route /admin/* {\n\t\twidgetgate_admin {\n\t\t\ttoken_file " + tokenFile + "\n\t\t\tpublic_url " + lbURL + "\n\t\t}\n\t}\n" +
			"\troute /ops/* {\n\t\tbasic_auth {\n\t\t\t" + opsUser + " " + strings.TrimSpace(hash) + "\n\t\t}\n" +
			"\t\twidgetgate_admin {\n\t\t\ttrust_auth_directive\n\t\t\tpublic_url " + lbOrigin + "/ops\n\t\t}\n\t}",
	})
	prov = a.provider.AddToken
	return a
}

// api calls the admin API of gateway gw as automation does: a bearer
// token, a JSON body labelled as such, no Origin or Sec-Fetch-Site.
func (a *adminEnv) api(t *testing.T, gw *testenv.Widgetgate, method, path, body, token string) reply {
	t.Helper()
	hdr := http.Header{}
	if body != "" {
		hdr.Set("Content-Type", "application/json")
	}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	return adminRequest(t, method, gw.URL+"/admin/api/"+path, body, hdr)
}

// adminRequest sends one request with exactly the headers given. path is
// sent as written (escapes and dot segments are not touched).
func adminRequest(t *testing.T, method, u, body string, hdr http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = nil, 0
	}
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	json.Unmarshal(raw, &r.json)
	return r
}

// consent plays the administrator in the popup: it opens the authorize
// URL, clicks Allow or Deny, and returns the callback URL the provider
// redirects to (not followed: the test decides which replica gets it).
func consent(t *testing.T, authorizeURL, button string) *url.URL {
	t.Helper()
	loc, err := authserver.Consent(context.Background(), http.DefaultClient, authorizeURL, button == "allow")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), lbURL+"/callback") {
		t.Fatalf("the provider redirected to %s", loc)
	}
	return loc
}

// callback delivers the provider's redirect to gw, as the load balancer would.
func callback(t *testing.T, gw *testenv.Widgetgate, loc *url.URL) reply {
	t.Helper()
	resp, err := http.Get(gw.URL + "/admin/callback?" + loc.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, raw: raw}
}

func (a *adminEnv) create(t *testing.T, provider string) string {
	t.Helper()
	r := a.api(t, a.gw, "POST", "passports", `{"provider": "`+provider+`", "displayName": "CRM"}`, adminToken)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return r.json["id"].(string)
}

func (a *adminEnv) startConnect(t *testing.T, id string) string {
	t.Helper()
	r := a.api(t, a.gw, "POST", "passports/"+id+"/connect", ``, adminToken)
	u, _ := r.json["authorizeUrl"].(string)
	if r.status != 200 || u == "" {
		t.Fatalf("connect: %d %s", r.status, r.raw)
	}
	return u
}

func (a *adminEnv) passport(t *testing.T, id string) map[string]any {
	t.Helper()
	r := a.api(t, a.gw, "GET", "passports/"+id, ``, adminToken)
	if r.status != 200 {
		t.Fatalf("get passport: %d %s", r.status, r.raw)
	}
	return r.json
}

func TestAdminConnectFlow(t *testing.T) {
	a := startAdmin(t)
	second := a.replica(t)
	var everything bytes.Buffer // every admin answer, for the canary check

	t.Run("connect: PKCE, params mapper, profile by JSONPath, callback on another replica", func(t *testing.T) {
		id := a.create(t, "custom:crm")
		authURL := a.startConnect(t, id)
		q := must(url.Parse(authURL)).Query()
		if q.Get("app_id") != asClientID || q.Get("client_id") != "" {
			t.Errorf("params mapper not applied: %v", q)
		}
		if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" || q.Get("redirect_uri") != lbURL+"/callback" {
			t.Errorf("authorization request: %v", q)
		}
		r := callback(t, second, consent(t, authURL, "allow"))
		everything.Write(r.raw)
		if r.status != 200 || !bytes.Contains(r.raw, []byte(`data-result="connected"`)) {
			t.Fatalf("callback on the second replica: %d %s", r.status, r.raw)
		}
		p := a.passport(t, id)
		acct := p["account"].(map[string]any)
		if p["status"] != "active" || acct["email"] != "ada@example.com" || acct["id"] != "42" || acct["name"] != "Ada Lovelace" {
			t.Fatalf("passport after connect: %v", p)
		}
		// The whole product path: bind it and call the widget's API at once.
		if r := a.api(t, a.gw, "PUT", "bindings/front-desk", `{"crm": "`+id+`"}`, adminToken); r.status != 200 {
			t.Fatalf("bind: %d %s", r.status, r.raw)
		}
		if r := a.call(t, "POST", "/sidecar/widgets/crm/apis/getData", `{}`, "X-Widget-Instance", "front-desk"); r.status != 200 || r.json["isSuccess"] != true {
			t.Fatalf("widget call right after connect: %d %s", r.status, r.raw)
		}

		// Disconnect revokes at the provider and deletes the tokens.
		rec, _ := a.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/"+id)
		refresh := rec.Data["refresh_token"].(string)
		d := a.api(t, a.gw, "POST", "passports/"+id+"/disconnect", ``, adminToken)
		everything.Write(d.raw)
		if d.status != 200 || d.json["status"] != "inactive" {
			t.Fatalf("disconnect: %d %s", d.status, d.raw)
		}
		if got := a.servers["crm"].Revoked(); !slices.Contains(got, refresh) {
			t.Errorf("revoked %v, want the refresh token", got)
		}
		rec, _ = a.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/"+id)
		if rec.Data["access_token"] != nil || rec.Data["refresh_token"] != nil {
			t.Errorf("tokens left in Vault after disconnect: %v", keys(rec.Data))
		}
		if r := a.call(t, "POST", "/sidecar/widgets/crm/apis/getData", `{}`, "X-Widget-Instance", "front-desk"); r.status != 401 {
			t.Errorf("widget call after disconnect: %d %s", r.status, r.raw)
		}

		// Reconnect: same passport, so the binding keeps working.
		r = callback(t, a.gw, consent(t, a.startConnect(t, id), "allow"))
		if !bytes.Contains(r.raw, []byte(`data-result="connected"`)) {
			t.Fatalf("reconnect: %s", r.raw)
		}
		if r := a.call(t, "POST", "/sidecar/widgets/crm/apis/getData", `{}`, "X-Widget-Instance", "front-desk"); r.status != 200 {
			t.Fatalf("widget call after reconnect: %d %s", r.status, r.raw)
		}
	})

	t.Run("comma scope separator", func(t *testing.T) {
		id := a.create(t, "custom:crm-comma")
		authURL := a.startConnect(t, id)
		if s := must(url.Parse(authURL)).Query().Get("scope"); s != "read,write" {
			t.Errorf("scope = %q, want read,write", s)
		}
		callback(t, a.gw, consent(t, authURL, "allow"))
		if p := a.passport(t, id); p["status"] != "active" {
			t.Errorf("passport: %v", p)
		}
	})

	for _, tc := range []struct {
		name, provider string
		want           map[string]string
	}{
		{"profile from the ID token", "custom:crm-idtoken", map[string]string{"email": "grace@example.com", "id": "g-1", "name": "Grace Hopper"}},
		{"defaults when a path finds nothing", "custom:crm-nopath", map[string]string{"email": "unknown@example.com", "name": "Someone", "id": "42"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := a.create(t, tc.provider)
			callback(t, a.gw, consent(t, a.startConnect(t, id), "allow"))
			acct := a.passport(t, id)["account"].(map[string]any)
			for k, v := range tc.want {
				if acct[k] != v {
					t.Errorf("account %s = %v, want %q (account %v)", k, acct[k], v, acct)
				}
			}
		})
	}

	t.Run("missing required metadata keeps the passport inactive", func(t *testing.T) {
		id := a.create(t, "custom:crm-meta")
		r := callback(t, a.gw, consent(t, a.startConnect(t, id), "allow"))
		p := a.passport(t, id)
		if r.status != 400 || p["status"] != "inactive" || p["lastError"] != "missing_metadata" || !bytes.Contains(r.raw, []byte("tenant_id")) {
			t.Errorf("callback %d %s; passport %v", r.status, r.raw, p)
		}
	})

	t.Run("deny keeps it inactive and says why", func(t *testing.T) {
		id := a.create(t, "custom:crm-comma")
		r := callback(t, a.gw, consent(t, a.startConnect(t, id), "deny"))
		if p := a.passport(t, id); r.status != 400 || p["status"] != "inactive" || !bytes.Contains(r.raw, []byte("denied")) {
			t.Errorf("callback %d %s; passport %v", r.status, r.raw, p)
		}
	})

	t.Run("state: unknown, replayed, expired, another passport's code", func(t *testing.T) {
		id := a.create(t, "custom:crm-comma")
		authURL := a.startConnect(t, id)
		loc := consent(t, authURL, "allow")
		before := a.passport(t, id)

		bad := *loc
		q := bad.Query()
		q.Set("state", "unknown-"+testenv.RandomHex(t, 8))
		bad.RawQuery = q.Encode()
		if r := callback(t, a.gw, &bad); r.status != 400 || !bytes.Contains(r.raw, []byte("unknown, has expired or was already used")) {
			t.Errorf("unknown state: %d %s", r.status, r.raw)
		}

		expired := "expired-" + testenv.RandomHex(t, 8)
		a.vault.Put(t, "widgetgate/oauth-states/"+expired, map[string]any{"passport": id, "verifier": "v",
			"expires": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
		q.Set("state", expired)
		bad.RawQuery = q.Encode()
		if r := callback(t, a.gw, &bad); r.status != 400 {
			t.Errorf("expired state: %d %s", r.status, r.raw)
		}
		if after := a.passport(t, id); after["status"] != before["status"] || after["lastError"] != before["lastError"] {
			t.Errorf("a rejected state changed the passport: %v -> %v", before, after)
		}

		// Another passport's code under this passport's state: PKCE binds
		// the code to the flow that asked for it, so the exchange fails.
		other := a.create(t, "custom:crm-comma")
		otherLoc := consent(t, a.startConnect(t, other), "allow")
		mixed := *loc
		mq := mixed.Query()
		mq.Set("code", otherLoc.Query().Get("code"))
		mixed.RawQuery = mq.Encode()
		if r := callback(t, a.gw, &mixed); r.status != 400 {
			t.Errorf("another passport's code: %d %s", r.status, r.raw)
		}
		rec, _ := a.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/"+id)
		if rec.Data["access_token"] != nil || rec.Data["status"] != "inactive" {
			t.Errorf("a mixed-up code connected the passport: %v", keys(rec.Data))
		}
		// Replay of a used state.
		if r := callback(t, a.gw, loc); r.status != 400 {
			t.Errorf("replayed state: %d %s", r.status, r.raw)
		}
	})

	t.Run("admin credential", func(t *testing.T) {
		list := func() int { return len(a.api(t, a.gw, "GET", "passports", ``, adminToken).json["passports"].([]any)) }
		n := list()
		for _, tok := range []string{"", "wrong-token-0123456789"} {
			if r := a.api(t, a.gw, "POST", "passports", `{"provider": "custom:crm"}`, tok); r.status != 401 || r.json["code"] != "admin_auth_required" {
				t.Errorf("token %q: %d %s", tok, r.status, r.raw)
			}
		}
		if list() != n {
			t.Error("a refused request changed the passports")
		}
		out, err := testenv.Run(t, "validate", "--config", writeFile(t, "Caddyfile", "{\n\twidgetgate {\n\t\twidgets_dir "+t.TempDir()+"\n\t}\n}\n:0 {\n\twidgetgate_admin {\n\t\tpublic_url http://x/admin\n\t}\n}\n"), "--adapter", "caddyfile")
		if err == nil || !strings.Contains(out, "refuses to run unprotected") {
			t.Errorf("an unprotected admin handler provisioned: %v\n%s", err, out)
		}
	})

	t.Run("canary: no token or secret in admin answers or logs", func(t *testing.T) {
		for _, path := range []string{"providers", "passports", "widgets", "bindings"} {
			everything.Write(a.api(t, a.gw, "GET", path, ``, adminToken).raw)
		}
		logs := a.gw.FinalLog(t) + second.FinalLog(t)
		secrets := []string{asClientSecret}
		ids, _ := a.vault.Client.Logical().List("secret/metadata/widgetgate/passports")
		for _, k := range ids.Data["keys"].([]any) {
			rec, err := a.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/"+k.(string))
			if err != nil {
				continue
			}
			for _, f := range []string{"access_token", "refresh_token"} {
				if s, _ := rec.Data[f].(string); s != "" {
					secrets = append(secrets, s)
				}
			}
		}
		for _, s := range secrets {
			if bytes.Contains(everything.Bytes(), []byte(s)) || strings.Contains(logs, s) {
				t.Errorf("a secret appears in admin answers or logs")
			}
		}
		if len(secrets) < 3 {
			t.Errorf("only %d secrets to look for: the canary check proves little", len(secrets))
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAdminAppspacePassport: an Appspace API v3 passport is connected from
// a pasted subjectId and refresh token (no popup); the first redemption
// validates them.
func TestAdminAppspacePassport(t *testing.T) {
	a := startAdmin(t)
	id := a.create(t, "appspace")
	a.provider.AddRefreshToken("as-refresh-1")
	bad := a.api(t, a.gw, "POST", "passports/"+id+"/connect", `{"subjectId": "app-1", "refreshToken": "wrong", "instanceUrl": "`+a.provURL+`"}`, adminToken)
	if bad.status != 400 || bad.json["code"] != "invalid_credentials" {
		t.Fatalf("bad refresh token: %d %s", bad.status, bad.raw)
	}
	if p := a.passport(t, id); p["status"] != "inactive" {
		t.Fatalf("after a refused redemption: %v", p)
	}
	good := a.api(t, a.gw, "POST", "passports/"+id+"/connect", `{"subjectId": "app-1", "refreshToken": "as-refresh-1", "instanceUrl": "`+a.provURL+`"}`, adminToken)
	if good.status != 200 || good.json["status"] != "active" {
		t.Fatalf("good credentials: %d %s", good.status, good.raw)
	}
	if bytes.Contains(good.raw, []byte("as-refresh-1")) {
		t.Error("the answer contains the refresh token")
	}
}

// vaultSnapshot reads every secret of the mount: path -> version and data.
// Two equal snapshots mean nothing was written, deleted or destroyed.
func vaultSnapshot(t *testing.T, e *env) map[string]string {
	t.Helper()
	return vaultTree(t, e, "")
}

// vaultTree is vaultSnapshot of the secrets under dir ("" or ending in
// "/") only.
func vaultTree(t *testing.T, e *env, dir string) map[string]string {
	t.Helper()
	ctx := context.Background()
	kv := e.vault.Client.KVv2("secret")
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		sec, err := e.vault.Client.Logical().List("secret/metadata/" + dir)
		if err != nil {
			t.Fatalf("listing %q: %v", dir, err)
		}
		if sec == nil {
			return
		}
		ks, _ := sec.Data["keys"].([]any)
		for _, k := range ks {
			p := dir + k.(string)
			if strings.HasSuffix(p, "/") {
				walk(p)
				continue
			}
			meta, err := kv.GetMetadata(ctx, p)
			if err != nil {
				t.Fatalf("metadata of %s: %v", p, err)
			}
			data := "(no current version)"
			if s, err := kv.Get(ctx, p); err == nil {
				data = string(must(json.Marshal(s.Data)))
			}
			out[p] = fmt.Sprintf("version %d: %s", meta.CurrentVersion, data)
		}
	}
	walk(dir)
	return out
}

// seedAdmin stores what the refusal tests must leave untouched: an active
// OAuth passport with tokens, an Appspace passport, a binding, and
// canaries at the paths a dot segment in an id would reach (the prefix
// itself and its folders, as keys).
func seedAdmin(t *testing.T, a *adminEnv) map[string]string {
	t.Helper()
	a.vault.PutPassport(t, "pp-crm", "custom:crm", "at-crm-canary")
	a.vault.PutPassport(t, "pp-as", "appspace", "at-as-canary")
	a.bind(t, "front-desk", map[string]any{"crm": "pp-crm"})
	for _, p := range []string{"widgetgate", "widgetgate/passports", "widgetgate/bindings", "canary"} {
		a.vault.Put(t, p, map[string]any{"canary": p})
	}
	return vaultSnapshot(t, a.env)
}

// checkVaultUnchanged fails t unless Vault holds exactly before.
func checkVaultUnchanged(t *testing.T, a *adminEnv, before map[string]string) {
	t.Helper()
	after := vaultSnapshot(t, a.env)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("Vault changed at %s:\n  before %s\n  after  %s", p, v, after[p])
		}
	}
	for p, v := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("Vault gained %s: %s", p, v)
		}
	}
}

// TestAdminInvalidIDs: an id that is not a valid passport or instance id
// (a dot segment, plain or percent-encoded, an encoded slash or backslash,
// a leading dot) is refused with 400 invalid_id on every admin route that
// takes one, and reaches no Vault path. Before, DELETE api/passports/..
// deleted the KV key "widgetgate" and "." deleted "widgetgate/passports".
func TestAdminInvalidIDs(t *testing.T) {
	a := startAdmin(t)
	before := seedAdmin(t, a)

	routes := []struct {
		name, method, path, body string // path: %s is the id
	}{
		{"show passport", "GET", "passports/%s", ""},
		{"delete passport", "DELETE", "passports/%s", ""},
		{"connect", "POST", "passports/%s/connect", ""},
		{"connect with a body", "POST", "passports/%s/connect", `{"subjectId": "s", "refreshToken": "r", "instanceUrl": "https://x.example"}`},
		{"disconnect", "POST", "passports/%s/disconnect", ""},
		{"put bindings", "PUT", "bindings/%s", `{"crm": "pp-crm"}`},
	}
	// (A path whose dots climb above /admin/, such as "..%2F..", is not
	// routed to the handler by Caddy at all: route /admin/* matches the
	// cleaned path.)
	ids := []string{
		"..", ".", "%2e%2e", "%2E%2e", "%2e", ".%2e", "..%2Fx", "%2e%2e%2f%2e%2e%2fwidgetgate",
		"a%2Fb", "pp-crm%2F..", "a%5Cb", "%5C..", ".hidden", "a..b", "%00", "pp-crm%00", "%20pp-crm",
	}
	for _, rt := range routes {
		for _, id := range ids {
			t.Run(rt.name+" "+id, func(t *testing.T) {
				r := a.api(t, a.gw, rt.method, fmt.Sprintf(rt.path, id), rt.body, adminToken)
				if r.status != 400 || r.json["code"] != "invalid_id" {
					t.Errorf("%s %s: %d %s, want 400 invalid_id", rt.method, fmt.Sprintf(rt.path, id), r.status, r.raw)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q, want application/problem+json", ct)
				}
			})
		}
	}
	checkVaultUnchanged(t, a, before)

	// Valid ids still work, on every route (the table above proves nothing
	// if the routes themselves are broken).
	if r := a.api(t, a.gw, "GET", "passports/pp-crm", "", adminToken); r.status != 200 {
		t.Errorf("show a valid id: %d %s", r.status, r.raw)
	}
	if r := a.api(t, a.gw, "PUT", "bindings/front-desk", `{"crm": "pp-crm"}`, adminToken); r.status != 200 {
		t.Errorf("put bindings of a valid id: %d %s", r.status, r.raw)
	}
	if r := a.api(t, a.gw, "POST", "passports/pp-crm/connect", "", adminToken); r.status != 200 {
		t.Errorf("connect a valid id: %d %s", r.status, r.raw)
	}
	if r := a.api(t, a.gw, "POST", "passports/pp-crm/disconnect", "", adminToken); r.status != 200 {
		t.Errorf("disconnect a valid id: %d %s", r.status, r.raw)
	}
	if r := a.api(t, a.gw, "DELETE", "passports/pp-crm", "", adminToken); r.status != 204 {
		t.Errorf("delete a valid id: %d %s", r.status, r.raw)
	}
	if r := a.api(t, a.gw, "GET", "passports/pp-crm", "", adminToken); r.status != 404 {
		t.Errorf("show a deleted id: %d %s", r.status, r.raw)
	}
}

// TestAdminCrossOrigin: every state-changing admin route refuses what a
// page on another origin can make a browser send. A request naming a
// foreign Origin (or "null", a sandboxed page's) or with Sec-Fetch-Site
// other than same-origin/none is 403 cross_origin_request; a body a form
// or a no-cors fetch can send (text/plain, urlencoded, multipart) or an
// unlabelled one is 415 unsupported_media_type. Both admin mounts: the
// bearer token one, and the basic_auth + trust_auth_directive one (where
// the browser's cached credentials made the attack work). Vault is
// unchanged afterwards. Automation (no Origin, no Sec-Fetch-Site) and the
// operator page's own requests still work.
func TestAdminCrossOrigin(t *testing.T) {
	a := startAdmin(t)
	before := seedAdmin(t, a)

	mounts := []struct {
		name, base string
		auth       func(http.Header)
	}{
		{"bearer", "/admin", func(h http.Header) { h.Set("Authorization", "Bearer "+adminToken) }},
		{"basic_auth", "/ops", func(h http.Header) { h.Set("Authorization", "Basic "+basic(opsUser, opsPassword)) }},
	}
	// Every state-changing route, with the body it takes (empty: none).
	routes := []struct {
		name, method, path, body string
	}{
		{"create", "POST", "passports", `{"provider": "custom:crm", "displayName": "Evil"}`},
		{"delete", "DELETE", "passports/pp-crm", ""},
		{"connect (OAuth)", "POST", "passports/pp-crm/connect", ""},
		{"connect (Appspace)", "POST", "passports/pp-as/connect", `{"subjectId": "evil", "refreshToken": "evil", "instanceUrl": "https://evil.example"}`},
		{"disconnect", "POST", "passports/pp-crm/disconnect", ""},
		{"put bindings", "PUT", "bindings/front-desk", `{"crm": "pp-as"}`},
		{"put bindings (new instance)", "PUT", "bindings/evil-screen", `{"crm": "pp-crm"}`},
	}
	type attack struct {
		name        string
		origin      string // "" = no Origin header
		fetchSite   string // "" = no Sec-Fetch-Site header
		contentType string // "json" = application/json; "" = none
		body        string // "" = the route's body, or {} for a bodyless route
		noBody      bool   // send no body at all
		status      int
		code        string
	}
	const crossOrigin, mediaType = "cross_origin_request", "unsupported_media_type"
	attacks := []attack{
		{name: "evil Origin", origin: "https://evil.example", contentType: "json", status: 403, code: crossOrigin},
		{name: "Origin null (sandboxed page)", origin: "null", contentType: "json", status: 403, code: crossOrigin},
		{name: "Origin on another port", origin: lbOrigin + ":8443", contentType: "json", status: 403, code: crossOrigin},
		{name: "Origin with another scheme", origin: "https://lb.example", contentType: "json", status: 403, code: crossOrigin},
		{name: "Origin of a subdomain", origin: "http://evil.lb.example", contentType: "json", status: 403, code: crossOrigin},
		{name: "Sec-Fetch-Site cross-site", fetchSite: "cross-site", contentType: "json", status: 403, code: crossOrigin},
		{name: "Sec-Fetch-Site same-site", fetchSite: "same-site", contentType: "json", status: 403, code: crossOrigin},
		{name: "right Origin, Sec-Fetch-Site cross-site", origin: lbOrigin, fetchSite: "cross-site", contentType: "json", status: 403, code: crossOrigin},
		{name: "evil Origin, form body", origin: "https://evil.example", fetchSite: "cross-site", contentType: "application/x-www-form-urlencoded", body: "a=b", status: 403, code: crossOrigin},
		{name: "text/plain", contentType: "text/plain", status: 415, code: mediaType},
		{name: "text/plain;charset=UTF-8", contentType: "text/plain;charset=UTF-8", status: 415, code: mediaType},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: "provider=custom%3Acrm", status: 415, code: mediaType},
		{name: "empty form", contentType: "application/x-www-form-urlencoded", noBody: true, status: 415, code: mediaType},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n", status: 415, code: mediaType},
		{name: "text/plain from the right Origin", origin: lbOrigin, fetchSite: "same-origin", contentType: "text/plain", status: 415, code: mediaType},
		{name: "JSON look-alike type", contentType: "text/json", status: 415, code: mediaType},
		{name: "a body without Content-Type", contentType: "", body: `{"crm": "pp-as"}`, status: 415, code: mediaType},
	}
	for _, m := range mounts {
		for _, rt := range routes {
			for _, at := range attacks {
				t.Run(m.name+"/"+rt.name+"/"+at.name, func(t *testing.T) {
					hdr := http.Header{}
					m.auth(hdr)
					if at.origin != "" {
						hdr.Set("Origin", at.origin)
					}
					if at.fetchSite != "" {
						hdr.Set("Sec-Fetch-Site", at.fetchSite)
						hdr.Set("Sec-Fetch-Mode", "no-cors")
					}
					body := at.body
					if body == "" && !at.noBody {
						body = cmp.Or(rt.body, "{}")
					}
					switch at.contentType {
					case "":
					case "json":
						hdr.Set("Content-Type", "application/json")
					default:
						hdr.Set("Content-Type", at.contentType)
					}
					r := adminRequest(t, rt.method, a.gw.URL+m.base+"/api/"+rt.path, body, hdr)
					if r.status != at.status || r.json["code"] != at.code {
						t.Errorf("%s %s%s: %d %s, want %d %s", rt.method, m.base, rt.path, r.status, r.raw, at.status, at.code)
					}
				})
			}
		}
	}
	checkVaultUnchanged(t, a, before)

	// What must keep working: automation (neither header, a bodyless POST
	// without Content-Type), and the operator page's own requests (its
	// origin, same-origin fetch metadata, JSON with a charset).
	page := func(h http.Header) {
		h.Set("Origin", lbOrigin)
		h.Set("Sec-Fetch-Site", "same-origin")
	}
	for _, m := range mounts {
		for _, tc := range []struct {
			name, method, path, body, contentType string
			browser                               bool
			status                                int
		}{
			{"create", "POST", "passports", `{"provider": "custom:crm"}`, "application/json", false, 201},
			{"create from the page", "POST", "passports", `{"provider": "custom:crm"}`, "application/json; charset=utf-8", true, 201},
			{"bind", "PUT", "bindings/front-desk", `{"crm": "pp-crm"}`, "application/json", false, 200},
			{"bind from the page", "PUT", "bindings/front-desk", `{"crm": "pp-crm"}`, "application/json", true, 200},
			{"connect, no body, no Content-Type", "POST", "passports/pp-crm/connect", "", "", false, 200},
			{"connect from the page, no body", "POST", "passports/pp-crm/connect", "", "", true, 200},
			{"connect, no body, JSON Content-Type", "POST", "passports/pp-crm/connect", "", "application/json", false, 200},
			{"read from another origin (unreadable there; GET changes nothing)", "GET", "passports/pp-crm", "", "", false, 200},
		} {
			t.Run(m.name+"/allowed/"+tc.name, func(t *testing.T) {
				hdr := http.Header{}
				m.auth(hdr)
				if tc.contentType != "" {
					hdr.Set("Content-Type", tc.contentType)
				}
				if tc.browser {
					page(hdr)
				}
				if tc.method == "GET" {
					hdr.Set("Origin", "https://evil.example")
					hdr.Set("Sec-Fetch-Site", "cross-site")
				}
				r := adminRequest(t, tc.method, a.gw.URL+m.base+"/api/"+tc.path, tc.body, hdr)
				if r.status != tc.status {
					t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.raw, tc.status)
				}
			})
		}
	}
	// Disconnect and delete last, from the page: they end the passport.
	for _, m := range mounts {
		id := "pp-page-" + m.name
		a.vault.PutPassport(t, id, "custom:crm", "at-"+id)
		for _, tc := range []struct {
			method, path string
			status       int
		}{{"POST", "passports/" + id + "/disconnect", 200}, {"DELETE", "passports/" + id, 204}} {
			hdr := http.Header{}
			m.auth(hdr)
			page(hdr)
			if r := adminRequest(t, tc.method, a.gw.URL+m.base+"/api/"+tc.path, "", hdr); r.status != tc.status {
				t.Errorf("%s: %s %s from the page: %d %s, want %d", m.name, tc.method, tc.path, r.status, r.raw, tc.status)
			}
		}
	}
}

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
