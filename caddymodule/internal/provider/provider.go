// Package provider describes the services a passport connects to: the
// built-in providers the Built-in Passport Reference of the Appspace widget
// developer guide names, and the custom providers a widget package bundles as
// passport/*.json. What differs between provider kinds (connecting a
// passport, redeeming its refresh token, revoking it) is a Protocol, one per
// Kind (oauth2.go, appspace.go): callers ask Provider.Protocol and never
// compare Kinds. It also holds what refreshing tokens needs and cannot get
// from golang.org/x/oauth2 alone: an Appspace API v3 token source and a
// classification of refresh failures.
//
// The package has no Caddy imports so that it can be tested, and reused by
// tools, on its own.
package provider

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Kind names how a provider's tokens are connected and refreshed. It is
// data (the admin API shows it); the behaviour is its Protocol.
type Kind string

const (
	// KindOAuth2 providers refresh with an RFC 6749 refresh_token grant
	// (golang.org/x/oauth2).
	KindOAuth2 Kind = "oauth2"
	// KindAppspace providers refresh at the Appspace API v3 token endpoint
	// with a JSON body (see AppspaceTokenSource).
	KindAppspace Kind = "appspace"
)

// InstanceURLField is the passport record field that holds the base URL of
// a per-instance provider (Appspace, ServiceNow), e.g.
// "https://acme.cloud.appspace.com". Such providers have no fixed AuthURL or
// TokenURL; Endpoint joins this URL with their Instance*Path.
const InstanceURLField = "instance_url"

// RefreshType is a custom passport's token refresh strategy: "None",
// "Before Expiry" and "Periodically" in the Appspace widget developer guide.
type RefreshType string

// RefreshType values. RefreshUnset means the passport did not say, and the
// gateway's default (refresh when the access token expires) applies.
const (
	RefreshUnset        RefreshType = ""
	RefreshNone         RefreshType = "none"
	RefreshBeforeExpiry RefreshType = "before_expiry"
	RefreshPeriodically RefreshType = "periodically"
)

// ParseRefreshType accepts the JSON spellings "none", "before_expiry" and
// "periodically" and, case-insensitively, the developer guide's UI labels
// ("None", "Before Expiry", "Periodically") and camelCase ("beforeExpiry").
// The empty string is RefreshUnset.
func ParseRefreshType(s string) (RefreshType, error) {
	// Folding away case, spaces, '_' and '-' maps every accepted spelling
	// onto one key without a table of variants.
	key := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
	switch key {
	case "":
		return RefreshUnset, nil
	case "none":
		return RefreshNone, nil
	case "beforeexpiry":
		return RefreshBeforeExpiry, nil
	case "periodically":
		return RefreshPeriodically, nil
	}
	return RefreshUnset, fmt.Errorf("unknown refresh type %q: want %q, %q or %q", s, RefreshNone, RefreshBeforeExpiry, RefreshPeriodically)
}

// UnmarshalText lets a RefreshType be decoded from JSON or Caddy config with
// any spelling ParseRefreshType accepts.
func (t *RefreshType) UnmarshalText(b []byte) error {
	v, err := ParseRefreshType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// MinRefreshMinutes is the smallest refreshValue the Appspace widget
// developer guide allows.
const MinRefreshMinutes = 30

// maxRefreshMinutes bounds refreshValue (one year) so that it cannot
// overflow a time.Duration; no real policy comes near it.
const maxRefreshMinutes = 365 * 24 * 60

// RefreshPolicy is how and when a passport's token is refreshed.
type RefreshPolicy struct {
	// Type is the strategy.
	Type RefreshType
	// Every is, for RefreshBeforeExpiry, how long before the access token
	// expires to refresh it; for RefreshPeriodically, the interval between
	// refreshes. It is zero for the other types.
	Every time.Duration
}

// Provider is what a passport refreshes and connects against.
//
// Values returned by Builtin, Builtins and ParseCustom are fresh copies: the
// caller may change them without affecting anyone else.
type Provider struct {
	// Name is the passportProvider value: "google", "microsoft",
	// "custom:my-api-connector".
	Name string
	// DisplayName is the human-readable name ("Google Calendar").
	DisplayName string
	// Category is the developer guide's category ("Calendar", "Library",
	// "Custom"...).
	Category string
	// Kind says how tokens are refreshed. It is empty for built-ins that
	// widgetgate cannot refresh at all (Tableau's Custom Auth).
	Kind Kind

	// AuthURL and TokenURL are the OAuth endpoints. Both are empty for
	// per-instance providers; see InstanceAuthPath and Endpoint.
	AuthURL, TokenURL string
	// InstanceAuthPath and InstanceTokenPath are, for per-instance
	// providers, the endpoint paths below the passport's instance URL
	// (InstanceURLField). InstanceAuthPath is empty when the provider has
	// no browser flow (Appspace tokens are created in its console).
	InstanceAuthPath, InstanceTokenPath string
	// AuthStyle says how the client credentials are sent to TokenURL.
	// AuthStyleAutoDetect (zero) is used for custom providers, whose style
	// is unknown; oauth2 then tries the header first and falls back to the
	// body.
	AuthStyle oauth2.AuthStyle
	// ScopeSeparator joins Scopes in the authorization request. Default " ".
	ScopeSeparator string
	// Scopes are requested at authorization.
	Scopes []string
	// AuthParams are extra authorization URL parameters (Google:
	// access_type=offline and prompt=consent, without which Google issues
	// no refresh token on a second consent).
	AuthParams map[string]string
	// RevocationURL is the RFC 7009 endpoint tokens are revoked at on
	// disconnect; empty when the provider has none (or it is unknown).
	RevocationURL string
	// PKCE says whether the authorization flow uses RFC 7636 PKCE.
	// Default true; a registry may turn it off for a provider that rejects
	// the extra parameters.
	PKCE bool
	// Refresh is the passport's refresh policy. Built-ins leave it unset.
	Refresh RefreshPolicy

	// ProfileURL returns the connected account's profile; the *Path fields
	// are JSONPath expressions into its response, and the Default* fields
	// are used when a path does not resolve.
	ProfileURL, ProfileEmailPath, ProfileIDPath, ProfileNamePath string
	DefaultEmail, DefaultID, DefaultName                         string
	// ParamsMapper is the developer guide's "Authentication Params Mapper":
	// custom parameter names for the authorization URL.
	ParamsMapper map[string]string
	// RequiredMetadata is the developer guide's "Required Authentication
	// Metadata": fields the OAuth callback response must carry.
	RequiredMetadata []string
	// ProfileFromIDToken says to read the profile from the ID token's
	// claims instead of calling ProfileURL.
	ProfileFromIDToken bool

	// ClientID and ClientSecret are the OAuth client credentials bundled in
	// a custom passport. A literal ClientSecret must be imported into Vault
	// by the caller, and the operator warned that it sits in a widget
	// package. ClientSecretRef is set instead when the passport names the
	// secret by Vault reference ("vault:<path>#<field>", see
	// SplitSecretRef). Built-ins carry none of these: operators store their
	// client credentials in Vault.
	ClientID, ClientSecret, ClientSecretRef string

	// MaxConcurrent is how many requests of one passport the provider
	// serves at once (Microsoft Graph's Outlook: 4 per app and mailbox);
	// 0 leaves it to widgetgate's default.
	MaxConcurrent int

	// Source is where the provider was defined: "built-in" or the passport
	// file, e.g. "my-saas/passport/my-saas-connector.json".
	Source string
	// Notes is a human-readable caveat for operators (per-instance URLs,
	// providers widgetgate cannot refresh, vendor quirks). Empty for most.
	Notes string
}

// SourceBuiltin is Provider.Source for built-in providers.
const SourceBuiltin = "built-in"

// PerInstance reports whether the provider's endpoints depend on the
// passport's instance URL (InstanceURLField).
func (p *Provider) PerInstance() bool { return p.InstanceTokenPath != "" }

// Endpoint returns the OAuth endpoint to use. For per-instance providers
// instanceURL (the passport's InstanceURLField) supplies the scheme and host
// and must be an https URL (http only for loopback hosts); for the others it
// is ignored.
func (p *Provider) Endpoint(instanceURL string) (oauth2.Endpoint, error) {
	if !p.PerInstance() {
		return oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL, AuthStyle: p.AuthStyle}, nil
	}
	base, err := instanceBase(instanceURL)
	if err != nil {
		return oauth2.Endpoint{}, fmt.Errorf("provider %s: %s: %w", p.Name, InstanceURLField, err)
	}
	e := oauth2.Endpoint{TokenURL: base + p.InstanceTokenPath, AuthStyle: p.AuthStyle}
	if p.InstanceAuthPath != "" {
		e.AuthURL = base + p.InstanceAuthPath
	}
	return e, nil
}

// instanceBase checks an instance URL and returns it without a trailing
// slash, ready for a path to be appended.
func instanceBase(raw string) (string, error) {
	if err := CheckEndpointURL(raw); err != nil {
		return "", err
	}
	u, _ := url.Parse(raw) // CheckEndpointURL parsed it already
	if u.RawQuery != "" || u.ForceQuery {
		return "", errors.New("must not have a query")
	}
	return strings.TrimRight(raw, "/"), nil
}

// Clone returns a deep copy of p.
func (p *Provider) Clone() *Provider {
	c := *p
	c.Scopes = slices.Clone(p.Scopes)
	c.AuthParams = maps.Clone(p.AuthParams)
	c.ParamsMapper = maps.Clone(p.ParamsMapper)
	c.RequiredMetadata = slices.Clone(p.RequiredMetadata)
	return &c
}

// ScopeString returns Scopes joined with ScopeSeparator (" " when unset),
// as the authorization request's scope parameter.
func (p *Provider) ScopeString() string {
	sep := p.ScopeSeparator
	if sep == "" {
		sep = " "
	}
	return strings.Join(p.Scopes, sep)
}

// CheckEndpointURL requires an absolute https URL, or http for a loopback
// host so that tests and the offline demo can use a local stand-in. Tokens
// and client secrets travel to these URLs, so plaintext to a remote host is
// refused. Error messages never include the URL: an operator may have put
// credentials in it.
func CheckEndpointURL(raw string) error {
	if raw != strings.TrimSpace(raw) {
		return errors.New("must not have leading or trailing spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if !u.IsAbs() || u.Host == "" {
		return errors.New("must be an absolute URL (https://host/...)")
	}
	if u.User != nil {
		return errors.New("must not contain credentials")
	}
	// RFC 6749 sections 3.1 and 3.2: endpoint URIs must not have a fragment.
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not have a fragment")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("must use https (http is allowed only for localhost, 127.0.0.1 and ::1)")
	default:
		return fmt.Errorf("scheme %q is not allowed: must use https", u.Scheme)
	}
}

// isLoopback reports whether host is localhost or a loopback IP literal.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secretRefPrefix starts a clientSecret that names a Vault secret instead of
// holding the secret itself.
const secretRefPrefix = "vault:"

// IsSecretRef reports whether s is written as a Vault reference
// ("vault:..."), well-formed or not.
func IsSecretRef(s string) bool { return strings.HasPrefix(s, secretRefPrefix) }

// SplitSecretRef splits a Vault reference "vault:<path>#<field>" into the
// path inside the KV mount and the field, e.g.
// "vault:widgetgate/providers/custom:my-api-connector#client_secret" gives
// "widgetgate/providers/custom:my-api-connector" and "client_secret".
// The path must be relative, with no empty, "." or ".." segments; neither
// part may contain spaces or control characters.
func SplitSecretRef(ref string) (path, field string, err error) {
	rest, ok := strings.CutPrefix(ref, secretRefPrefix)
	if !ok {
		return "", "", errors.New(`a Vault reference must start with "vault:"`)
	}
	path, field, ok = strings.Cut(rest, "#")
	if !ok || path == "" || field == "" || strings.Contains(field, "#") {
		return "", "", errors.New(`a Vault reference must look like "vault:<path>#<field>"`)
	}
	if strings.ContainsFunc(rest, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", "", errors.New("a Vault reference must not contain spaces or control characters")
	}
	for seg := range strings.SplitSeq(path, "/") {
		// An escaping or empty segment would let a bundled passport point
		// at another part of the mount than the operator intends.
		if seg == "" || seg == "." || seg == ".." {
			return "", "", errors.New(`a Vault reference path must be relative, without empty, "." or ".." segments`)
		}
	}
	return path, field, nil
}
