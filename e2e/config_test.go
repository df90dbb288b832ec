package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/callerctx"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// clockSchema is a widget that only reads its configuration: no
// authentication, one field of most types.
const clockSchema = `{"authentications": [], "authenticatedApis": [], "configuration": {"fields": [
  {"name": "title", "type": "text", "label": "Title", "group": "Display", "default": "Welcome", "validation": {"required": true, "maxLength": 40}},
  {"name": "rows", "type": "number", "label": "Rows", "default": 3, "validation": {"min": 1, "max": 20}},
  {"name": "compact", "type": "boolean", "default": false},
  {"name": "accent", "type": "colorPicker", "default": "#1a73e8"},
  {"name": "room", "type": "select", "options": [{"label": "North wing", "value": "north"}, "south"]},
  {"name": "opens", "type": "time"}
]}}`

// configValue is what the administrator writes for one instance; the
// log must never hold it.
const configValue = "CANARY-Lobby-title-71c2"

// TestInstanceConfiguration, through the real binary and Vault in signed
// caller-context mode: the admin API's configuration round trip, with one
// problem per bad field and nothing written; the widget sees the defaults
// until a value is set; each caller context reads its own instance's
// configuration only, whatever headers it adds; resetting brings the
// defaults back. The viewer's name, email and language come from the
// context's claims, empty when absent.
func TestInstanceConfiguration(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	os.WriteFile(tokenFile, []byte(adminToken+"\n"), 0o600)
	e := start(t, options{
		globalExtra:  "context_keys {\n\t\t\thmac_vault\n\t\t}",
		handlerBlock: "caller_context signed",
		extraWidgets: map[string]map[string]string{"clock": {"schema.json": clockSchema, "widget.html": "<p>clock</p>"}},
		extraRoutes:  "route /admin/* {\n\t\twidgetgate_admin {\n\t\t\ttoken_file " + tokenFile + "\n\t\t\tpublic_url " + lbURL + "\n\t\t}\n\t}",
	})
	secret := []byte(testenv.RandomHex(t, 24))
	e.vault.Put(t, "widgetgate/context-keys", map[string]any{"current": string(secret)})
	mint := func(c callerctx.Context) string {
		tok, err := callerctx.Mint(secret, c, "widgetgate", 10*time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	lobby := mint(callerctx.Context{Instance: "lobby", Widget: "clock", User: "u1", DisplayName: "Ada Lovelace", Email: "ada@example.com", Language: "en-GB"})
	cafe := mint(callerctx.Context{Instance: "cafe", Widget: "clock", User: "u2"})
	context := func(token string, headers ...string) reply {
		return e.call(t, "GET", "/sidecar/widgets/clock/context", "", append([]string{"X-Widget-Context", token}, headers...)...)
	}
	testenv.WaitFor(t, 20*time.Second, "context keys loaded", func() error {
		if r := context(lobby); r.status != 200 {
			return &callError{r}
		}
		return nil
	})
	admin := func(method, body string) reply {
		return adminRequest(t, method, e.gw.URL+"/admin/api/instances/lobby/config/clock", body, bearerJSON(body))
	}
	configuration := func(r reply) map[string]any {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		out := map[string]any{}
		for name, v := range r.json["configuration"].(map[string]any) {
			out[name] = v.(map[string]any)["value"]
		}
		return out
	}
	defaults := map[string]any{"title": "Welcome", "rows": 3.0, "compact": false, "accent": "#1a73e8", "room": nil, "opens": nil}

	// Unset: the defaults, to the widget and on the admin API.
	r := context(lobby)
	if got := configuration(r); !reflect.DeepEqual(got, defaults) {
		t.Errorf("unset configuration = %v, want the defaults %v", got, defaults)
	}
	if got := r.json["user"]; !reflect.DeepEqual(got, map[string]any{"displayName": "Ada Lovelace", "email": "ada@example.com", "language": "en-GB"}) {
		t.Errorf("user = %v", got)
	}
	if got := context(cafe).json["user"]; !reflect.DeepEqual(got, map[string]any{"displayName": "", "email": "", "language": ""}) {
		t.Errorf("user without profile claims = %v, want empty strings", got)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	r = admin("GET", "")
	if got := configuration(r); !reflect.DeepEqual(got, defaults) || len(r.json["values"].(map[string]any)) != 0 {
		t.Errorf("admin GET unset: %s", r.raw)
	}
	if fields := r.json["fields"].([]any); len(fields) != 6 || fields[0].(map[string]any)["group"] != "Display" {
		t.Errorf("fields = %v", fields)
	}

	// Bad values: every bad field named, nothing written.
	before := vaultSnapshot(t, e)
	r = admin("PUT", `{"values": {"title": "`+strings.Repeat("x", 41)+`", "rows": 99, "compact": "yes", "accent": "blue",
		"room": "east", "opens": "25:99", "colour": "red"}}`)
	if r.status != 422 || r.json["code"] != "invalid_configuration" {
		t.Fatalf("bad values: %d %s", r.status, r.raw)
	}
	got := map[string]string{}
	for _, fe := range r.json["errors"].([]any) {
		m := fe.(map[string]any)
		got[m["field"].(string)] = m["message"].(string)
	}
	want := map[string]string{
		"title": "41 characters; at most 40", "rows": "99 is above the maximum, 20", "compact": "must be true or false, not text",
		"accent": `must be a colour such as "#1a73e8"`, "room": `"east" is not one of the options`, "opens": "must be a time as HH:MM",
		"colour": "the widget declares no such field",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors =\n%v\nwant\n%v", got, want)
	}
	after := vaultSnapshot(t, e)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("a refused write changed Vault:\nbefore %v\nafter  %v", before, after)
	}
	for _, body := range []string{`{"values": null}`, `[1]`, `{"values": {"title": "a"}} trailing`} {
		if r := admin("PUT", body); r.status != 400 {
			t.Errorf("PUT %s: %d, want 400", body, r.status)
		}
	}
	if r := admin("PUT", `{"values": {"title": "`+strings.Repeat("y", 80<<10)+`"}}`); r.status != 413 {
		t.Errorf("oversized body: %d, want 413", r.status)
	}

	// Good values for lobby, others for cafe.
	r = admin("PUT", `{"values": {"title": "`+configValue+`", "rows": 12, "room": "north", "opens": "08:30"}}`)
	wantLobby := map[string]any{"title": configValue, "rows": 12.0, "compact": false, "accent": "#1a73e8", "room": "north", "opens": "08:30"}
	if got := configuration(r); !reflect.DeepEqual(got, wantLobby) {
		t.Errorf("PUT answer = %v, want %v", got, wantLobby)
	}
	if r := adminRequest(t, "PUT", e.gw.URL+"/admin/api/instances/cafe/config/clock", `{"values": {"title": "Café", "compact": true}}`,
		bearerJSON("x")); r.status != 200 {
		t.Fatalf("cafe PUT: %d %s", r.status, r.raw)
	}
	stored, err := e.vault.Client.KVv2("secret").Get(t.Context(), "widgetgate/config/lobby/clock")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := json.Unmarshal([]byte(stored.Data["values"].(string)), &values); err != nil || values["rows"] != 12.0 || len(values) != 4 {
		t.Errorf("Vault holds %v (%v)", stored.Data, err)
	}

	// Each context reads its own instance only: the instance header a
	// caller adds, or another widget's context, changes nothing.
	if got := configuration(context(lobby)); !reflect.DeepEqual(got, wantLobby) {
		t.Errorf("lobby sees %v, want %v", got, wantLobby)
	}
	wantCafe := map[string]any{"title": "Café", "rows": 3.0, "compact": true, "accent": "#1a73e8", "room": nil, "opens": nil}
	if got := configuration(context(cafe, "X-Widget-Instance", "lobby")); !reflect.DeepEqual(got, wantCafe) {
		t.Errorf("cafe (naming lobby in a header) sees %v, want its own %v", got, wantCafe)
	}
	for _, tc := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"no context", "", 401, "invalid_caller_context"},
		{"another widget's context", mint(callerctx.Context{Instance: "lobby", Widget: "calendar"}), 403, "widget_mismatch"},
		{"signed by another key", func() string {
			tok, _ := callerctx.Mint([]byte(testenv.RandomHex(t, 24)), callerctx.Context{Instance: "lobby", Widget: "clock"}, "widgetgate", time.Minute, time.Now())
			return tok
		}(), 401, "invalid_caller_context"},
	} {
		r := context(tc.token)
		if r.status != tc.status || r.json["code"] != tc.code || strings.Contains(string(r.raw), configValue) {
			t.Errorf("%s: %d %s, want %d %s without the configuration", tc.name, r.status, r.raw, tc.status, tc.code)
		}
	}
	if r := e.call(t, "GET", "/sidecar/widgets/nope/context", "", "X-Widget-Context", lobby); r.status != 404 || r.json["code"] != "unknown_widget" {
		t.Errorf("unknown widget: %d %s", r.status, r.raw)
	}
	if r := e.call(t, "POST", "/sidecar/widgets/clock/context", "{}", "X-Widget-Context", lobby); r.status != 405 || r.header.Get("Allow") != "GET" {
		t.Errorf("POST: %d %s (Allow %q)", r.status, r.raw, r.header.Get("Allow"))
	}
	// The context requests are counted by widget and outcome; a widget
	// that is not loaded counts under "".
	m := e.call(t, "GET", "/metrics", "")
	for _, want := range []string{
		`widgetgate_context_requests_total{outcome="invalid_caller_context",widget="clock"} 2`,
		`widgetgate_context_requests_total{outcome="widget_mismatch",widget="clock"} 1`,
		`widgetgate_context_requests_total{outcome="unknown_widget",widget=""} 1`,
		`widgetgate_context_requests_total{outcome="method_not_allowed",widget="clock"} 1`,
		`widgetgate_context_requests_total{outcome="ok",widget="clock"}`,
	} {
		if !bytes.Contains(m.raw, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if bytes.Contains(m.raw, []byte(`widget="nope"`)) || bytes.Contains(m.raw, []byte("lobby")) {
		t.Error("metrics name a widget that is not loaded, or an instance")
	}

	// Reset: back to the defaults; cafe keeps its own.
	if r := admin("DELETE", ""); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	if got := configuration(context(lobby)); !reflect.DeepEqual(got, defaults) {
		t.Errorf("after reset lobby sees %v, want the defaults", got)
	}
	if got := configuration(context(cafe)); !reflect.DeepEqual(got, wantCafe) {
		t.Errorf("after lobby's reset cafe sees %v", got)
	}
	if strings.Contains(e.gw.FinalLog(t), configValue) {
		t.Error("the widgetgate log holds a configuration value")
	}
}

// bearerJSON is the headers of an admin API request as automation sends
// it: the admin token, and a JSON label when there is a body.
func bearerJSON(body string) map[string][]string {
	h := map[string][]string{"Authorization": {"Bearer " + adminToken}}
	if body != "" {
		h["Content-Type"] = []string{"application/json"}
	}
	return h
}
