package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// oauth2Protocol is KindOAuth2: connected with the authorization-code
// flow, refreshed with an RFC 6749 refresh_token grant
// (golang.org/x/oauth2), revoked at RFC 7009 endpoints.
type oauth2Protocol struct{ p *Provider }

// Connect is the authorization-code flow.
func (oauth2Protocol) Connect() ConnectStyle { return ConnectRedirect }

// NeedsClientCredentials is true: the token endpoint authenticates the client.
func (oauth2Protocol) NeedsClientCredentials() bool { return true }

// TokenSource redeems at the provider's TokenURL. Per-instance OAuth
// providers (ServiceNow) have none and are not refreshed.
func (o oauth2Protocol) TokenSource(ctx context.Context, client *http.Client, g Grant, creds ClientFunc) (oauth2.TokenSource, error) {
	if o.p.TokenURL == "" {
		return nil, fmt.Errorf("%w: provider %q has no token URL", passport.ErrNotRefreshable, o.p.Name)
	}
	c, err := creds(ctx)
	if err != nil {
		return nil, err
	}
	conf := &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: o.p.TokenURL, AuthURL: o.p.AuthURL, AuthStyle: o.p.AuthStyle}}
	return conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, client), &oauth2.Token{RefreshToken: g.RefreshToken}), nil
}

// CanRevoke reports whether the provider has a revocation endpoint.
func (o oauth2Protocol) CanRevoke() bool { return o.p.RevocationURL != "" }

// Revoke posts an RFC 7009 revocation request, authenticating the client
// with HTTP Basic (RFC 6749 section 2.3.1, form-encoded credentials).
func (o oauth2Protocol) Revoke(ctx context.Context, client *http.Client, token, hint string, creds ClientFunc) error {
	if o.p.RevocationURL == "" {
		return fmt.Errorf("provider %q has no revocation endpoint", o.p.Name)
	}
	c, err := creds(ctx)
	if err != nil {
		return err
	}
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.p.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := client.Do(req)
	if err != nil {
		return errors.New("revocation endpoint unreachable")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation endpoint answered HTTP %d", resp.StatusCode)
	}
	return nil
}

var _ Protocol = oauth2Protocol{}
