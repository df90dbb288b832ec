package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
	"github.com/widgetgate/widgetgate/caddymodule/internal/memstore"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// These tests run the flow on the in-memory store against a fake token
// and revocation endpoint: no Vault, no browser.

// idp is a fake OAuth server: /token answers any authorization code,
// /revoke answers revokeStatus and records what it was sent.
type idp struct {
	*httptest.Server
	mu           sync.Mutex
	revokeStatus int
	revoked      []url.Values
}

func newIDP(t *testing.T) *idp {
	s := &idp{revokeStatus: http.StatusOK}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("code") == "" || r.PostForm.Get("code_verifier") == "" {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-1", "refresh_token": "rt-1", "token_type": "Bearer", "expires_in": 3600, "scope": "read"})
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.revoked = append(s.revoked, r.PostForm)
		w.WriteHeader(s.revokeStatus)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

type world struct {
	store *memstore.Store
	idp   *idp
	flow  *connect.Flow
	now   time.Time
}

func newWorld(t *testing.T) *world {
	w := &world{store: memstore.New(""), idp: newIDP(t), now: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	registry := map[string]*provider.Provider{
		"custom:oauth": {Name: "custom:oauth", Kind: provider.KindOAuth2, AuthURL: w.idp.URL + "/authorize", TokenURL: w.idp.URL + "/token",
			AuthStyle: oauth2.AuthStyleInParams, Scopes: []string{"read", "write"}, ScopeSeparator: " ", PKCE: true,
			RevocationURL: w.idp.URL + "/revoke", DefaultEmail: "someone@example.com"},
		"appspace": {Name: "appspace", Kind: provider.KindAppspace, InstanceTokenPath: provider.AppspaceTokenPath},
		"tableau":  {Name: "tableau"},
	}
	w.flow = &connect.Flow{
		Store:  w.store,
		Lookup: func(name string) (*provider.Provider, bool) { p, ok := registry[name]; return p, ok },
		Credentials: func(context.Context, *provider.Provider) (vaultstore.Credentials, error) {
			return vaultstore.Credentials{ClientID: "cid", ClientSecret: "csecret"}, nil
		},
		RedirectURL: "https://gate.example/admin/callback", HTTPClient: w.idp.Client(),
		DefaultLifetime: time.Hour, Now: func() time.Time { return w.now },
	}
	return w
}

func (w *world) passport(t *testing.T, prov string, data map[string]any) *passport.Passport {
	d := map[string]any{"provider": prov, "status": passport.StatusInactive}
	for k, v := range data {
		d[k] = v
	}
	rec, err := w.store.CreatePassport(context.Background(), "pp", d)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Passport
}

func reason(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// Start hands out a single-use state with a PKCE challenge; Finish with it
// connects the passport, and a second Finish with the same state fails.
func TestStartAndFinish(t *testing.T) {
	w := newWorld(t)
	p := w.passport(t, "custom:oauth", nil)
	raw, err := w.flow.Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	if q.Get("state") == "" || q.Get("code_challenge_method") != "S256" || q.Get("scope") != "read write" || q.Get("client_id") != "cid" {
		t.Fatalf("authorization URL %s", raw)
	}
	callback := url.Values{"state": {q.Get("state")}, "code": {"code-1"}}
	got, err := w.flow.Finish(context.Background(), callback)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Active() || got.AccessToken != "at-1" || got.RefreshToken != "rt-1" || got.AccountEmail != "someone@example.com" ||
		!got.Expiry.Equal(w.now.Add(time.Hour)) || got.Scope != "read" {
		t.Errorf("connected passport = %+v", got)
	}
	if _, err := w.flow.Finish(context.Background(), callback); reason(err) != "invalid_state" {
		t.Errorf("second Finish: %v, want invalid_state", err)
	}
}

// A provider that denies access leaves the passport inactive with the
// reason; providers connected otherwise never start a redirect flow.
func TestFinishAndStartRefusals(t *testing.T) {
	w := newWorld(t)
	p := w.passport(t, "custom:oauth", nil)
	raw, err := w.flow.Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	_, err = w.flow.Finish(context.Background(), url.Values{"state": {u.Query().Get("state")}, "error": {"access_denied"}})
	if reason(err) != "access_denied" {
		t.Fatalf("denied: %v, want access_denied", err)
	}
	after, _ := w.store.Passport(context.Background(), "pp")
	if after.Status != passport.StatusInactive || after.LastError != "access_denied" {
		t.Errorf("after a denial: %+v", after)
	}
	for _, prov := range []string{"appspace", "tableau"} {
		_, err := w.flow.Start(context.Background(), &passport.Passport{ID: "pp", Provider: prov})
		if reason(err) != "not_oauth" {
			t.Errorf("Start for %s: %v, want not_oauth", prov, err)
		}
	}
}

// Disconnect revokes the refresh token where the provider can, and clears
// the tokens whether or not the revocation worked.
func TestDisconnect(t *testing.T) {
	tests := []struct {
		name      string
		prov      string
		status    int
		revokes   int
		lastError string
	}{
		{"revoked", "custom:oauth", http.StatusOK, 1, ""},
		{"revocation refused", "custom:oauth", http.StatusServiceUnavailable, 1, "revocation_failed"},
		{"nothing to revoke at", "appspace", http.StatusOK, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.idp.revokeStatus = tc.status
			w.passport(t, tc.prov, map[string]any{"status": passport.StatusActive, "access_token": "at-1", "refresh_token": "rt-1"})
			got, err := w.flow.Disconnect(context.Background(), "pp")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != passport.StatusInactive || got.AccessToken != "" || got.RefreshToken != "" || got.LastError != tc.lastError {
				t.Errorf("after disconnect: %+v", got)
			}
			if len(w.idp.revoked) != tc.revokes {
				t.Fatalf("%d revocations, want %d", len(w.idp.revoked), tc.revokes)
			}
			if tc.revokes > 0 && (w.idp.revoked[0].Get("token") != "rt-1" || w.idp.revoked[0].Get("token_type_hint") != "refresh_token") {
				t.Errorf("revocation form %v", w.idp.revoked[0])
			}
		})
	}
}
