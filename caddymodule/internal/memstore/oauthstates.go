package memstore

import (
	"context"
	"errors"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// PutOAuthState stores a new flow state under its key.
func (s *Store) PutOAuthState(ctx context.Context, key string, st vaultstore.OAuthState) error {
	_, err := s.put(ctx, s.prefix+"/oauth-states/"+key, map[string]any{
		"passport": st.Passport, "verifier": st.Verifier, "expires": st.Expires.UTC().Format(time.RFC3339),
	}, 0)
	return err
}

// ClaimOAuthState returns key's flow state once: it is marked used with
// check-and-set, then deleted; vaultstore.ErrStateInvalid when unknown,
// used or expired at now.
func (s *Store) ClaimOAuthState(ctx context.Context, key string, now time.Time) (vaultstore.OAuthState, error) {
	path := s.prefix + "/oauth-states/" + key
	if !vaultstore.ValidID(key) {
		return vaultstore.OAuthState{}, vaultstore.ErrStateInvalid
	}
	data, version, err := s.get(ctx, path)
	if errors.Is(err, passport.ErrNotFound) {
		return vaultstore.OAuthState{}, vaultstore.ErrStateInvalid
	}
	if err != nil {
		return vaultstore.OAuthState{}, err
	}
	if str(data, "used") != "" {
		return vaultstore.OAuthState{}, vaultstore.ErrStateInvalid
	}
	data["used"] = now.UTC().Format(time.RFC3339)
	if _, err := s.put(ctx, path, data, version); err != nil {
		if isConflict(err) {
			return vaultstore.OAuthState{}, vaultstore.ErrStateInvalid
		}
		return vaultstore.OAuthState{}, err
	}
	s.deleteAll(ctx, path) // best effort, as in vaultstore
	st := vaultstore.OAuthState{Passport: str(data, "passport"), Verifier: str(data, "verifier")}
	st.Expires, _ = time.Parse(time.RFC3339, str(data, "expires"))
	if !now.Before(st.Expires) {
		return vaultstore.OAuthState{}, vaultstore.ErrStateInvalid
	}
	return st, nil
}
