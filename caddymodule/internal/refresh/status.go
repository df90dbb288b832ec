package refresh

import (
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// reasonAccepted is OnStatusChange's reason when a passport that needed
// reconnecting works again: its refresh token was retried after
// ReconnectBackoff and accepted (the refusal was the provider's mistake,
// or the grant was restored there).
const reasonAccepted = "the provider accepted the refresh token again"

// statusChanged tells OnStatusChange that Vault now holds after where it
// held before, if the status differs.
func (r *Refresher) statusChanged(before, after *passport.Passport, reason string) {
	if r.cfg.OnStatusChange == nil || before.Status == after.Status {
		return
	}
	r.cfg.OnStatusChange(after, before.Status, reason)
}

// connecting reports whether p's refresh token has not been redeemed once
// since an administrator connected it: pasted credentials (Appspace) are
// checked with a first redemption, and connect.Flow.ConnectPasted tells
// the administrator, and marks the passport inactive, when the provider
// refuses them. That is a failed connect, not a passport that went bad, so
// no reconnect_required notification is sent for it. A sign-in flow
// writes last_refresh with connected_at (to the second), so its passports
// are never "connecting"; passports written without connected_at never
// are either.
func connecting(p *passport.Passport) bool {
	return !p.ConnectedAt.IsZero() && p.LastRefresh.Before(p.ConnectedAt.Truncate(time.Second))
}
