// Package passport holds passports (stored OAuth connections to a provider),
// the bindings that say which passport serves which authKey of a widget
// instance, and the in-memory cache that keeps Vault off the request path.
package passport

import (
	"context"
	"errors"
	"time"
)

// Status values of a passport.
const (
	StatusActive   = "active"
	StatusInactive = "inactive"
	// StatusReconnectRequired: the refresh token was refused (revoked,
	// expired); an administrator must connect the passport again.
	StatusReconnectRequired = "reconnect_required"
)

// Passport is one stored OAuth connection. It is immutable once built: the
// cache hands the same value to concurrent callers.
type Passport struct {
	ID           string
	Provider     string // "google", "microsoft", "custom:my-api-connector"
	Status       string
	AccessToken  string
	TokenType    string
	RefreshToken string
	// Expiry is when the access token stops working; zero means unknown.
	Expiry time.Time
	// LastRefresh is when widgetgate last refreshed the token.
	LastRefresh time.Time
	// ConnectedAt is when an administrator last connected the passport:
	// what the connection fetched before is never shared with the next.
	ConnectedAt time.Time
	// LastError is why the last refresh failed ("invalid_grant", …), without detail.
	LastError string
	// RetryAfter: a reconnect_required passport is not refreshed again before this.
	RetryAfter time.Time
	// SubjectID and InstanceURL are for Appspace API v3 passports.
	SubjectID, InstanceURL string
	// DisplayName is the administrator's name for the passport.
	DisplayName string
	// Scope is what the provider granted, as it wrote it.
	Scope string
	// Account is who the passport is connected as (from the profile).
	AccountEmail, AccountID, AccountName string
	// Version is the Vault KV version this was read at.
	Version int
}

// Active reports whether an administrator connected the passport and it has
// a token to use.
func (p *Passport) Active() bool { return p.Status == StatusActive && p.AccessToken != "" }

// Expired reports whether the access token is expired at now, counting skew
// early so a token is not sent in its last seconds of life.
func (p *Passport) Expired(now time.Time, skew time.Duration) bool {
	return !p.Expiry.IsZero() && !now.Add(skew).Before(p.Expiry)
}

// Bindings maps a widget instance's authKeys to passport ids.
type Bindings map[string]string

// Errors a Store returns. Any other error means the store could not answer
// (unreachable, sealed, permission denied) and is reported as unavailable.
var (
	ErrNotFound  = errors.New("not found")
	ErrMalformed = errors.New("malformed record")
	// ErrNotRefreshable: the passport's token cannot be refreshed (no
	// known provider, no refresh token, refresh type "none").
	ErrNotRefreshable = errors.New("passport cannot be refreshed")
)

// Store is where passports and bindings live (Vault, in production).
type Store interface {
	Passport(ctx context.Context, id string) (*Passport, error)
	Bindings(ctx context.Context, instance string) (Bindings, error)
}
