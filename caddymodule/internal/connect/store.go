package connect

import (
	"context"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// Store is what creating, connecting and disconnecting passports needs
// from storage: passports created, read and written with check-and-set,
// and single-use flow states any replica can claim. Defined here, where it is used, so the
// flow can run on an in-memory store (memstore) in unit tests.
type Store interface {
	// PassportRecord reads a passport with its version; passport.ErrNotFound
	// when there is none.
	PassportRecord(ctx context.Context, id string) (*vaultstore.Record, error)
	// CreatePassport writes a new passport; vaultstore.ErrConflict if the
	// id is taken.
	CreatePassport(ctx context.Context, id string, data map[string]any) (*vaultstore.Record, error)
	// UpdatePassport writes rec with changes applied if it is still at
	// rec.Version ("" deletes a field), and returns the new record.
	UpdatePassport(ctx context.Context, rec *vaultstore.Record, changes map[string]string) (*vaultstore.Record, error)
	// PutOAuthState stores a new flow state under its random key.
	PutOAuthState(ctx context.Context, key string, st vaultstore.OAuthState) error
	// ClaimOAuthState returns key's state and makes sure it is never
	// returned again; vaultstore.ErrStateInvalid when unknown, used or
	// expired at now.
	ClaimOAuthState(ctx context.Context, key string, now time.Time) (vaultstore.OAuthState, error)
}

var _ Store = (*vaultstore.Store)(nil)
