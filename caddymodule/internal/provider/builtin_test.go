package provider

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/endpoints"
)

// builtinNames is every passportProvider of the Built-in Passport Reference
// of the Appspace widget developer guide, as the project names them.
var builtinNames = []string{
	"google", "google-drive", "google-meet",
	"microsoft", "microsoft-teams", "microsoft-teams-conferencing", "powerbi", "sharepoint", "sharepoint-publishing",
	"viva-engage", "entra-id", "microsoft-presence", "microsoft-calendar-permission", "appspace-sharepoint",
	"zoom", "zoom-conferencing",
	"webex-teams", "webex-meetings", "webex-conferencing",
	"facebook", "twitter", "slack", "workplace",
	"salesforce", "tableau", "servicenow", "box",
	"appspace",
}

func TestBuiltinsCoverTheSeed(t *testing.T) {
	all := Builtins()
	var names []string
	for _, p := range all {
		names = append(names, p.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("Builtins not sorted by name: %q", names)
	}
	want := slices.Sorted(slices.Values(builtinNames))
	if !slices.Equal(names, want) {
		t.Errorf("Builtins names\n got %q\nwant %q", names, want)
	}
	for _, n := range builtinNames {
		if p, ok := Builtin(n); !ok || p.Name != n {
			t.Errorf("Builtin(%q) = %v, %v", n, p, ok)
		}
	}
	if _, ok := Builtin("custom:my-api-connector"); ok {
		t.Error("Builtin found a custom provider")
	}
}

func TestBuiltinsAreUsable(t *testing.T) {
	for _, p := range Builtins() {
		t.Run(p.Name, func(t *testing.T) {
			if p.DisplayName == "" || p.Source != SourceBuiltin || p.ScopeSeparator == "" {
				t.Errorf("incomplete: %+v", p)
			}
			if p.ClientID != "" || p.ClientSecret != "" || p.ClientSecretRef != "" {
				t.Error("a built-in must not carry client credentials")
			}
			switch p.Kind {
			case KindOAuth2:
				// Either fixed endpoints, or documented per-instance paths.
				if p.PerInstance() {
					if p.TokenURL != "" || p.AuthURL != "" || !strings.HasPrefix(p.InstanceTokenPath, "/") ||
						!strings.HasPrefix(p.InstanceAuthPath, "/") || !strings.Contains(p.Notes, InstanceURLField) {
						t.Errorf("per-instance provider badly described: %+v", p)
					}
				} else {
					for _, u := range []string{p.AuthURL, p.TokenURL} {
						if err := CheckEndpointURL(u); err != nil || !strings.HasPrefix(u, "https://") {
							t.Errorf("endpoint %q: %v", u, err)
						}
					}
				}
				if p.AuthStyle == oauth2.AuthStyleAutoDetect {
					// Auto-detection can cost a second token call; every
					// built-in's style is known.
					t.Error("AuthStyle not set")
				}
				if !p.PKCE {
					t.Error("PKCE off")
				}
			case KindAppspace:
				if p.InstanceTokenPath != AppspaceTokenPath || p.TokenURL != "" || !strings.Contains(p.Notes, InstanceURLField) {
					t.Errorf("appspace badly described: %+v", p)
				}
			case "":
				if p.Name != "tableau" || p.Notes == "" {
					t.Errorf("only Tableau has no kind, with a note: %+v", p)
				}
			default:
				t.Errorf("unknown kind %q", p.Kind)
			}
			if p.ProfileURL != "" {
				if err := CheckEndpointURL(p.ProfileURL); err != nil {
					t.Errorf("ProfileURL: %v", err)
				}
			}
			for _, jp := range []string{p.ProfileEmailPath, p.ProfileIDPath, p.ProfileNamePath} {
				if jp != "" {
					if err := checkJSONPath(jp); err != nil {
						t.Errorf("profile path %q: %v", jp, err)
					}
				}
			}
		})
	}
}

func TestBuiltinEndpointsMatchOAuth2(t *testing.T) {
	ms := endpoints.AzureAD("common")
	tests := []struct {
		names []string
		ep    oauth2.Endpoint
		style oauth2.AuthStyle
	}{
		{[]string{"google", "google-drive", "google-meet"}, endpoints.Google, oauth2.AuthStyleInParams},
		{[]string{"microsoft", "microsoft-teams", "microsoft-teams-conferencing", "powerbi", "sharepoint", "sharepoint-publishing",
			"viva-engage", "entra-id", "microsoft-presence", "microsoft-calendar-permission", "appspace-sharepoint"}, ms, oauth2.AuthStyleInParams},
		{[]string{"zoom", "zoom-conferencing"}, endpoints.Zoom, oauth2.AuthStyleInHeader},
		{[]string{"slack"}, endpoints.Slack, oauth2.AuthStyleInParams},
		{[]string{"facebook", "workplace"}, endpoints.Facebook, oauth2.AuthStyleInParams},
		{[]string{"twitter"}, endpoints.X, oauth2.AuthStyleInHeader},
		{[]string{"webex-teams", "webex-meetings", "webex-conferencing"},
			oauth2.Endpoint{AuthURL: "https://webexapis.com/v1/authorize", TokenURL: "https://webexapis.com/v1/access_token"}, oauth2.AuthStyleInParams},
		{[]string{"box"}, oauth2.Endpoint{AuthURL: "https://account.box.com/api/oauth2/authorize", TokenURL: "https://api.box.com/oauth2/token"}, oauth2.AuthStyleInParams},
	}
	for _, tc := range tests {
		for _, n := range tc.names {
			p, _ := Builtin(n)
			if p.AuthURL != tc.ep.AuthURL || p.TokenURL != tc.ep.TokenURL || p.AuthStyle != tc.style {
				t.Errorf("%s: %q %q %v, want %q %q %v", n, p.AuthURL, p.TokenURL, p.AuthStyle, tc.ep.AuthURL, tc.ep.TokenURL, tc.style)
			}
			ep, err := p.Endpoint("ignored")
			if err != nil || ep.TokenURL != tc.ep.TokenURL || ep.AuthStyle != tc.style {
				t.Errorf("%s: Endpoint = %+v, %v", n, ep, err)
			}
		}
	}

	g, _ := Builtin("google")
	if g.AuthParams["access_type"] != "offline" || g.AuthParams["prompt"] != "consent" {
		t.Errorf("google AuthParams = %v", g.AuthParams)
	}
	for _, p := range Builtins() {
		if p.TokenURL == ms.TokenURL && !slices.Contains(p.Scopes, "offline_access") {
			t.Errorf("%s: Microsoft needs offline_access for a refresh token: %q", p.Name, p.Scopes)
		}
	}
	s, _ := Builtin("slack")
	if got := s.ScopeString(); got != "channels:read,channels:history,users:read" {
		t.Errorf("slack ScopeString = %q", got)
	}
}

func TestPerInstanceEndpoint(t *testing.T) {
	tests := []struct {
		name, instance, wantAuth, wantToken string
		ok                                  bool
	}{
		{"servicenow", "https://acme.service-now.com", "https://acme.service-now.com/oauth_auth.do", "https://acme.service-now.com/oauth_token.do", true},
		{"servicenow", "https://acme.service-now.com/", "https://acme.service-now.com/oauth_auth.do", "https://acme.service-now.com/oauth_token.do", true},
		{"appspace", "https://acme.cloud.appspace.com", "", "https://acme.cloud.appspace.com/api/v3/authorization/token", true},
		{"appspace", "http://127.0.0.1:8080", "", "http://127.0.0.1:8080/api/v3/authorization/token", true},
		{"appspace", "http://acme.cloud.appspace.com", "", "", false},
		{"appspace", "", "", "", false},
		{"appspace", "acme.cloud.appspace.com", "", "", false},
		{"appspace", "https://acme.cloud.appspace.com/?x=1", "", "", false},
	}
	for _, tc := range tests {
		p, _ := Builtin(tc.name)
		ep, err := p.Endpoint(tc.instance)
		if (err == nil) != tc.ok || ep.AuthURL != tc.wantAuth || ep.TokenURL != tc.wantToken {
			t.Errorf("%s.Endpoint(%q) = %+v, %v", tc.name, tc.instance, ep, err)
		}
		if err != nil && !strings.Contains(err.Error(), InstanceURLField) {
			t.Errorf("error does not name %s: %v", InstanceURLField, err)
		}
	}
}

// Builtin hands out copies: a caller changing one cannot affect another.
func TestBuiltinReturnsCopies(t *testing.T) {
	a, _ := Builtin("google")
	a.Scopes[0] = "changed"
	a.AuthParams["prompt"] = "none"
	a.TokenURL = "https://evil.example/token"
	b, _ := Builtin("google")
	if b.Scopes[0] == "changed" || b.AuthParams["prompt"] != "consent" || b.TokenURL != endpoints.Google.TokenURL {
		t.Errorf("built-in table was modified through a returned value: %+v", b)
	}
	all := Builtins()
	all[0].Name = "x"
	if Builtins()[0].Name == "x" {
		t.Error("Builtins returned shared values")
	}
}
