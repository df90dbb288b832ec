package connect

import (
	"context"
	"regexp"
	"strings"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

var slugUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// slug is s lowercased with every run of other characters than a-z and
// 0-9 made one "-", trimmed of "-" at both ends.
func slug(s string) string {
	return strings.Trim(slugUnsafe.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// Create stores a new, inactive passport for prov named displayName (the
// caller has checked it). Its id is a slug of displayName (of the
// provider's name when that slug is empty or longer than 40 bytes) with 6
// random hex digits; vaultstore.ErrConflict in the unlikely case it is
// taken.
func (f *Flow) Create(ctx context.Context, prov *provider.Provider, displayName string) (*passport.Passport, error) {
	s := slug(displayName)
	if len(s) > 40 || s == "" {
		s = slug(prov.Name)
	}
	rec, err := f.Store.CreatePassport(ctx, s+"-"+randomHex(3), vaultstore.NewPassportData(prov.Name, displayName))
	if err != nil {
		return nil, err
	}
	return rec.Passport, nil
}

// PastedCredentials are what an administrator pastes to connect a passport
// whose provider connects that way (Appspace API v3) instead of with a
// sign-in redirect. The caller has checked all three are set and that
// InstanceURL is an https endpoint.
type PastedCredentials struct {
	SubjectID    string
	RefreshToken string
	InstanceURL  string
}

// ConnectPasted stores c on the passport rec and validates them with a
// first redemption (Flow.Refresh). It returns the connected passport, or,
// when the provider refuses them, deletes its tokens, sets last_error
// invalid_credentials and returns an Error saying so. The refused passport
// is inactive, unless it was reconnect_required: it still needs
// reconnecting, so its banner stays and the reconnect that works later is
// reported as the recovery.
func (f *Flow) ConnectPasted(ctx context.Context, rec *vaultstore.Record, c PastedCredentials) (*passport.Passport, error) {
	next, err := f.Store.UpdatePassport(ctx, rec, vaultstore.PastedChanges(c.SubjectID, c.RefreshToken, c.InstanceURL, f.now()))
	if err != nil {
		return nil, err
	}
	p, err := f.Refresh(ctx, next.Passport)
	if err != nil {
		refused := vaultstore.RefusedChanges("invalid_credentials")
		if rec.Passport.Status == passport.StatusReconnectRequired {
			refused["status"] = passport.StatusReconnectRequired
		}
		if again, rerr := f.Store.PassportRecord(ctx, rec.Passport.ID); rerr == nil {
			f.Store.UpdatePassport(ctx, again, refused)
		}
		return nil, &Error{Reason: "invalid_credentials", Message: "Appspace did not accept the subject id and refresh token; the passport is not connected."}
	}
	// Vault has held the passport as active since the paste was written;
	// the redemption showed the credentials work, so the trouble is over.
	f.reconnected(rec.Passport.Status, p, "an administrator reconnected the passport with new credentials")
	return p, nil
}
