package provider

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

// noCreds fails the test if a Protocol asks for client credentials.
func noCreds(t *testing.T) ClientFunc {
	return func(context.Context) (Credentials, error) {
		t.Error("client credentials were asked for")
		return Credentials{}, errors.New("no credentials in this test")
	}
}

func TestProtocolOfEachKind(t *testing.T) {
	tests := []struct {
		name        string
		kind        Kind
		revocation  string
		managed     bool
		connect     ConnectStyle
		needsClient bool
		canRevoke   bool
	}{
		{"oauth2", KindOAuth2, "", true, ConnectRedirect, true, false},
		{"oauth2 with revocation", KindOAuth2, "https://idp.example/revoke", true, ConnectRedirect, true, true},
		{"appspace", KindAppspace, "", true, ConnectPasted, false, false},
		{"unmanaged (empty kind)", "", "", false, 0, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proto, managed := (&Provider{Name: "p", Kind: tc.kind, RevocationURL: tc.revocation}).Protocol()
			if managed != tc.managed {
				t.Fatalf("managed = %v, want %v", managed, tc.managed)
			}
			if !managed {
				return
			}
			if got := proto.Connect(); got != tc.connect {
				t.Errorf("Connect = %v, want %v", got, tc.connect)
			}
			if got := proto.NeedsClientCredentials(); got != tc.needsClient {
				t.Errorf("NeedsClientCredentials = %v, want %v", got, tc.needsClient)
			}
			if got := proto.CanRevoke(); got != tc.canRevoke {
				t.Errorf("CanRevoke = %v, want %v", got, tc.canRevoke)
			}
		})
	}
}

// A grant that cannot be redeemed as it stands is ErrNotRefreshable, found
// before any client credentials are read.
func TestTokenSourceRefusesIncompleteGrants(t *testing.T) {
	tests := []struct {
		name string
		prov *Provider
		g    Grant
	}{
		{"oauth2 without token URL", &Provider{Name: "servicenow", Kind: KindOAuth2, InstanceTokenPath: "/oauth_token.do"}, Grant{Passport: "pp", RefreshToken: "rt"}},
		{"appspace without subject", &Provider{Name: "appspace", Kind: KindAppspace}, Grant{Passport: "pp", RefreshToken: "rt", InstanceURL: "https://a.example"}},
		{"appspace without instance", &Provider{Name: "appspace", Kind: KindAppspace}, Grant{Passport: "pp", RefreshToken: "rt", SubjectID: "s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proto, _ := tc.prov.Protocol()
			_, err := proto.TokenSource(context.Background(), http.DefaultClient, tc.g, noCreds(t))
			if !errors.Is(err, passport.ErrNotRefreshable) {
				t.Fatalf("err = %v, want ErrNotRefreshable", err)
			}
		})
	}
}

// Each kind redeems at the stand-in and gets a rotated refresh token; only
// OAuth2 reads the client credentials.
func TestTokenSourceRedeems(t *testing.T) {
	sp := standin.New()
	srv := httptest.NewServer(sp)
	t.Cleanup(srv.Close)
	tests := []struct {
		name string
		prov *Provider
		g    Grant
	}{
		{"oauth2", &Provider{Name: "custom:x", Kind: KindOAuth2, TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}, Grant{Passport: "pp", RefreshToken: "rt-oauth"}},
		{"appspace", &Provider{Name: "appspace", Kind: KindAppspace}, Grant{Passport: "pp", RefreshToken: "rt-appspace", SubjectID: "app-1", InstanceURL: srv.URL}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp.AddRefreshToken(tc.g.RefreshToken)
			proto, _ := tc.prov.Protocol()
			asked := 0
			creds := func(context.Context) (Credentials, error) {
				asked++
				return Credentials{ClientID: "cid", ClientSecret: "csecret"}, nil
			}
			ts, err := proto.TokenSource(context.Background(), srv.Client(), tc.g, creds)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" || tok.RefreshToken == tc.g.RefreshToken {
				t.Errorf("token = %+v, want an access token and a rotated refresh token", tok)
			}
			if want := map[bool]int{true: 1, false: 0}[proto.NeedsClientCredentials()]; asked != want {
				t.Errorf("credentials asked %d times, want %d", asked, want)
			}
		})
	}
}

// Revoke posts an RFC 7009 form with the client in HTTP Basic; a non-200
// answer is an error.
func TestOAuth2Revoke(t *testing.T) {
	var got *http.Request
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got = r
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	proto, _ := (&Provider{Name: "google", Kind: KindOAuth2, RevocationURL: srv.URL + "/revoke"}).Protocol()
	creds := func(context.Context) (Credentials, error) {
		return Credentials{ClientID: "c id", ClientSecret: "s&cret"}, nil
	}
	if err := proto.Revoke(context.Background(), srv.Client(), "rt-1", "refresh_token", creds); err != nil {
		t.Fatal(err)
	}
	user, pass, _ := got.BasicAuth()
	if got.Method != http.MethodPost || got.PostForm.Get("token") != "rt-1" || got.PostForm.Get("token_type_hint") != "refresh_token" ||
		user != "c+id" || pass != "s%26cret" {
		t.Errorf("request = %s form %v basic %q:%q", got.Method, got.PostForm, user, pass)
	}
	status = http.StatusBadRequest
	if err := proto.Revoke(context.Background(), srv.Client(), "rt-1", "refresh_token", creds); err == nil {
		t.Error("a 400 from the revocation endpoint was not an error")
	}
	appspace, _ := (&Provider{Name: "appspace", Kind: KindAppspace}).Protocol()
	if err := appspace.Revoke(context.Background(), srv.Client(), "rt-1", "refresh_token", noCreds(t)); err == nil {
		t.Error("Appspace revoked a token it has no endpoint for")
	}
}
