package memstore

import (
	"context"
	"errors"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// Lease reads <prefix>/leases/<id>; the zero Lease when there is none.
func (s *Store) Lease(ctx context.Context, id string) (vaultstore.Lease, error) {
	data, version, err := s.get(ctx, s.prefix+"/leases/"+id)
	if errors.Is(err, passport.ErrNotFound) {
		return vaultstore.Lease{}, nil
	}
	if err != nil {
		return vaultstore.Lease{}, err
	}
	l := vaultstore.Lease{Holder: str(data, "holder"), Version: version}
	if v := str(data, "expires"); v != "" {
		l.Expires, _ = time.Parse(time.RFC3339Nano, v) // unreadable counts as expired
	}
	return l, nil
}

// PutLease writes the lease of passport id if it is still at prev.Version
// (else vaultstore.ErrConflict), and returns it with its new version.
func (s *Store) PutLease(ctx context.Context, id string, prev vaultstore.Lease, holder string, expires time.Time) (vaultstore.Lease, error) {
	data := map[string]any{"holder": holder, "expires": expires.UTC().Format(time.RFC3339Nano)}
	version, err := s.put(ctx, s.prefix+"/leases/"+id, data, prev.Version)
	if err != nil {
		return vaultstore.Lease{}, err
	}
	return vaultstore.Lease{Holder: holder, Expires: expires, Version: version}, nil
}
