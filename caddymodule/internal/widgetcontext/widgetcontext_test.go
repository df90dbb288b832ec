package widgetcontext

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/memstore"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/callerctx"
)

const clockSchema = `{"authentications": [], "authenticatedApis": [], "configuration": {"fields": [
  {"name": "title", "type": "text", "default": "Welcome"},
  {"name": "rows", "type": "number", "default": 3}]}}`

// byHeader is a Caller for tests: the instance is the X-Instance header,
// as a trusted host would say; "refuse" stands for a context the gateway
// refuses.
func byHeader(h http.Header, widgetID string) (callerctx.Context, *problem.Problem) {
	if h.Get("X-Instance") == "refuse" {
		return callerctx.Context{}, problem.New(http.StatusUnauthorized, "invalid_caller_context", "refused")
	}
	return callerctx.Context{Instance: h.Get("X-Instance"), Widget: widgetID, DisplayName: h.Get("X-Name")}, nil
}

func TestServe(t *testing.T) {
	w, err := schema.LoadFS("clock", "clock", fstest.MapFS{"schema.json": {Data: []byte(clockSchema)}}, schema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New("")
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	if err := store.PutInstanceConfig(context.Background(), "lobby", "clock", map[string]any{"title": "Lobby"}, at); err != nil {
		t.Fatal(err)
	}
	if err := store.PutInstanceConfig(context.Background(), "cafe", "clock", map[string]any{"title": "Café", "rows": 9}, at); err != nil {
		t.Fatal(err)
	}
	store.Put("widgetgate/config/handwritten/clock", map[string]any{"values": "title=Lobby"}) // not JSON
	s := &Server{Store: store, Widgets: schema.NewCatalog(map[string]*schema.Widget{"clock": w}), Caller: byHeader,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}

	for _, tc := range []struct {
		name, method, widget, instance string
		down                           bool
		want                           map[string]schema.FieldValue
		wantCode                       string
	}{
		{"stored value, default for the rest", "GET", "clock", "lobby", false, map[string]schema.FieldValue{"title": {Value: "Lobby"}, "rows": {Value: 3.0}}, ""},
		{"another instance sees its own", "GET", "clock", "cafe", false, map[string]schema.FieldValue{"title": {Value: "Café"}, "rows": {Value: 9.0}}, ""},
		{"unset instance gets defaults", "GET", "clock", "hall", false, map[string]schema.FieldValue{"title": {Value: "Welcome"}, "rows": {Value: 3.0}}, ""},
		{"no instance gets defaults", "GET", "clock", "", false, map[string]schema.FieldValue{"title": {Value: "Welcome"}, "rows": {Value: 3.0}}, ""},
		{"malformed in Vault: defaults", "GET", "clock", "handwritten", false, map[string]schema.FieldValue{"title": {Value: "Welcome"}, "rows": {Value: 3.0}}, ""},
		{"unknown widget", "GET", "nope", "lobby", false, nil, "unknown_widget"},
		{"refused caller", "GET", "clock", "refuse", false, nil, "invalid_caller_context"},
		{"not GET", "POST", "clock", "lobby", false, nil, "method_not_allowed"},
		{"Vault down", "GET", "clock", "lobby", true, nil, "vault_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.SetUnavailable(tc.down)
			defer store.SetUnavailable(false)
			h := http.Header{"X-Instance": {tc.instance}, "X-Name": {"Ada"}}
			got, p := s.Serve(context.Background(), tc.method, h, tc.widget)
			if tc.wantCode != "" {
				if p == nil || p.Code != tc.wantCode {
					t.Fatalf("problem = %+v, want %s", p, tc.wantCode)
				}
				if tc.wantCode == "vault_unavailable" && p.RetryAfter == 0 {
					t.Error("no Retry-After on vault_unavailable")
				}
				return
			}
			if p != nil {
				t.Fatalf("problem %+v", p)
			}
			if !reflect.DeepEqual(got.Configuration, tc.want) || got.User != (User{DisplayName: "Ada"}) {
				t.Errorf("answer = %+v, want configuration %+v", got, tc.want)
			}
		})
	}
}

// ServeHTTP tells Observe of every answer: the widget only when it is
// loaded, and the problem's code or "ok".
func TestServeHTTPObserves(t *testing.T) {
	w, err := schema.LoadFS("clock", "clock", fstest.MapFS{"schema.json": {Data: []byte(clockSchema)}}, schema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	s := &Server{Store: memstore.New(""), Widgets: schema.NewCatalog(map[string]*schema.Widget{"clock": w}), Caller: byHeader,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Observe: func(widget, outcome string) { got = append(got, [2]string{widget, outcome}) }}
	for _, req := range []struct{ method, widget, instance string }{
		{"GET", "clock", "lobby"},
		{"GET", "invented-by-a-caller", "lobby"},
		{"GET", "clock", "refuse"},
		{"DELETE", "clock", "lobby"},
	} {
		r := httptest.NewRequest(req.method, "/sidecar/widgets/"+req.widget+"/context", nil)
		r.Header.Set("X-Instance", req.instance)
		s.ServeHTTP(httptest.NewRecorder(), r, req.widget)
	}
	want := [][2]string{{"clock", "ok"}, {"", "unknown_widget"}, {"clock", "invalid_caller_context"}, {"clock", "method_not_allowed"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		path, id string
		ok       bool
	}{
		{"/sidecar/widgets/clock/context", "clock", true},
		{"/widgets/my-saas.v2/context", "my-saas.v2", true},
		{"/sidecar/widgets/clock/apis/context", "", false},
		{"/sidecar/widgets/../context", "", false},
		{"/sidecar/widgets/a%2Fb/context", "", false},
		{"/sidecar/widgets//context", "", false},
		{"/sidecar/widgets/clock/context/x", "", false},
		{"/sidecar/clock/context", "", false},
	} {
		id, ok := ParsePath(tc.path)
		if ok != tc.ok || (ok && id != tc.id) {
			t.Errorf("ParsePath(%q) = %q, %v; want %q, %v", tc.path, id, ok, tc.id, tc.ok)
		}
	}
}
