package provider

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"
)

// Protocol is what differs between provider kinds: how an administrator
// connects a passport, how its refresh token is redeemed and whether that
// takes the provider's OAuth client, and whether its tokens can be revoked.
// Callers ask a Provider for its Protocol instead of comparing Kinds, so a
// new kind is one new implementation in this package.
type Protocol interface {
	// Connect says how an administrator connects a passport.
	Connect() ConnectStyle
	// NeedsClientCredentials reports whether redeeming and revoking take
	// the provider's OAuth client id and secret (which operators store in
	// Vault); an Appspace API v3 token needs none.
	NeedsClientCredentials() bool
	// TokenSource returns a source whose Token redeems g's refresh token
	// once. client makes the requests and ctx bounds them. creds is called
	// only when the redemption needs the client credentials, after every
	// check that needs none, so a passport that cannot be refreshed never
	// costs a Vault read. Errors that mean the passport cannot be refreshed
	// as it stands wrap passport.ErrNotRefreshable.
	TokenSource(ctx context.Context, client *http.Client, g Grant, creds ClientFunc) (oauth2.TokenSource, error)
	// CanRevoke reports whether tokens can be revoked at the provider on
	// disconnect (RFC 7009).
	CanRevoke() bool
	// Revoke revokes token, of type hint ("refresh_token" or
	// "access_token"), at the provider. It is an error to call it when
	// CanRevoke is false.
	Revoke(ctx context.Context, client *http.Client, token, hint string, creds ClientFunc) error
}

// ConnectStyle is how an administrator connects a passport.
type ConnectStyle int

const (
	// ConnectRedirect is the OAuth 2.0 authorization-code flow: the
	// administrator signs in at the provider, which redirects back.
	ConnectRedirect ConnectStyle = iota + 1
	// ConnectPasted is pasting credentials made in the provider's console
	// (Appspace API v3: subjectId and refreshToken); a first redemption
	// validates them.
	ConnectPasted
)

// Grant is what a passport holds for redeeming its refresh token.
type Grant struct {
	// Passport is the passport's id; errors name it.
	Passport     string
	RefreshToken string
	// SubjectID and InstanceURL are the Appspace API v3 subject and the
	// instance base URL (InstanceURLField).
	SubjectID, InstanceURL string
}

// Credentials are a provider's OAuth client credentials. The shape is
// vaultstore.Credentials', so callers convert between them directly.
type Credentials struct {
	ClientID     string
	ClientSecret string
}

// ClientFunc returns a provider's OAuth client credentials.
type ClientFunc func(ctx context.Context) (Credentials, error)

// Protocol returns how p's passports are connected and refreshed, or false
// for a provider widgetgate knows by name but does not manage (Tableau's
// Custom Auth, whose Kind is empty: whatever writes its passports keeps
// their tokens current).
func (p *Provider) Protocol() (Protocol, bool) {
	switch p.Kind {
	case KindOAuth2:
		return oauth2Protocol{p}, true
	case KindAppspace:
		return appspaceProtocol{p}, true
	}
	return nil, false
}
