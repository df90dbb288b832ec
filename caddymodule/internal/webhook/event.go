// Package webhook tells operators when a passport needs them: when the
// provider refuses its refresh token (it becomes reconnect_required) and
// when it works again. Each event is POSTed, signed with HMAC-SHA256 the
// way Stripe signs its webhooks, to every configured URL, with retries.
//
// The package knows nothing of Caddy or Vault: the signing key is read
// through Config.Key at send time, so a key rotated in Vault is used by
// the next attempt without a reload.
package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// Event types.
const (
	// TypeReconnectRequired: the provider refused the passport's refresh
	// token; an administrator must connect it again.
	TypeReconnectRequired = "passport.reconnect_required"
	// TypeActive: a passport that needed reconnecting works again.
	TypeActive = "passport.active"
)

// Event is what a webhook receiver is sent, as JSON. It names the passport
// and says why in words; it never carries a token or a provider's answer,
// because receivers (chat rooms, ticket systems) are not trusted with them.
type Event struct {
	// ID is 128 random bits in hex. It stays the same across retries, so a
	// receiver that got an event twice can tell.
	ID string `json:"id"`
	// Type is TypeReconnectRequired or TypeActive.
	Type string `json:"type"`
	// Passport is the passport's id.
	Passport string `json:"passport"`
	// Provider is the passport's provider name ("google", "custom:x").
	Provider string `json:"provider"`
	// Time is when the status changed, in UTC (RFC 3339 in JSON).
	Time time.Time `json:"time"`
	// Reason says why in words, e.g. "the provider refused the refresh
	// token (invalid_grant)".
	Reason string `json:"reason"`
}

// NewEvent returns an event of type typ with a fresh random id, at now
// (in UTC).
func NewEvent(typ, passportID, provider, reason string, now time.Time) Event {
	return Event{ID: newID(), Type: typ, Passport: passportID, Provider: provider, Time: now.UTC(), Reason: reason}
}

// eventTypes are the passport statuses operators are told of.
var eventTypes = map[string]string{
	passport.StatusReconnectRequired: TypeReconnectRequired,
	passport.StatusActive:            TypeActive,
}

// StatusEvent returns the event telling that p has its status now, and
// false when operators are not told of that status.
func StatusEvent(p *passport.Passport, reason string, now time.Time) (Event, bool) {
	typ, ok := eventTypes[p.Status]
	if !ok {
		return Event{}, false
	}
	return NewEvent(typ, p.ID, p.Provider, reason, now), true
}

// newID returns 128 random bits in hex: unique without coordination
// between replicas.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand panics instead since Go 1.24)
	return hex.EncodeToString(b)
}
