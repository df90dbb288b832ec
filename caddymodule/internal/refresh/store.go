package refresh

import (
	"context"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// Store is what the refresher needs from storage: passports read and
// written with check-and-set (a lost race is vaultstore.ErrConflict),
// their refresh leases, and providers' client credentials. Defined here,
// where it is used, so unit tests can run on an in-memory store
// (memstore) while production uses *vaultstore.Store.
type Store interface {
	// PassportRecord reads a passport with its version; passport.ErrNotFound
	// when there is none.
	PassportRecord(ctx context.Context, id string) (*vaultstore.Record, error)
	// UpdatePassport writes rec with changes applied if it is still at
	// rec.Version ("" deletes a field), and returns the new record.
	UpdatePassport(ctx context.Context, rec *vaultstore.Record, changes map[string]string) (*vaultstore.Record, error)
	// ListPassports lists every passport id.
	ListPassports(ctx context.Context) ([]string, error)
	// Lease reads a passport's refresh lease (the zero Lease when none).
	Lease(ctx context.Context, id string) (vaultstore.Lease, error)
	// PutLease writes the lease if it is still at prev.Version.
	PutLease(ctx context.Context, id string, prev vaultstore.Lease, holder string, expires time.Time) (vaultstore.Lease, error)
	// ProviderCredentials reads <prefix>/providers/<name>.
	ProviderCredentials(ctx context.Context, name string) (vaultstore.Credentials, error)
	// ProviderSecret reads a field of a provider secret a bundled passport
	// names by reference; vaultstore.ErrRefNotAllowed outside
	// <prefix>/providers/.
	ProviderSecret(ctx context.Context, path, field string) (string, error)
}

var _ Store = (*vaultstore.Store)(nil)
