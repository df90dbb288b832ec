package memstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// ProviderCredentials reads <prefix>/providers/<name>.
func (s *Store) ProviderCredentials(ctx context.Context, name string) (vaultstore.Credentials, error) {
	if !vaultstore.ValidID(name) {
		return vaultstore.Credentials{}, passport.ErrNotFound
	}
	data, _, err := s.get(ctx, s.prefix+"/providers/"+name)
	if err != nil {
		return vaultstore.Credentials{}, err
	}
	return vaultstore.Credentials{ClientID: str(data, "client_id"), ClientSecret: str(data, "client_secret")}, nil
}

// PutProviderCredentials stores a provider's credentials unless some are
// already there.
func (s *Store) PutProviderCredentials(ctx context.Context, name string, c vaultstore.Credentials) (created bool, err error) {
	_, err = s.put(ctx, s.prefix+"/providers/"+name, map[string]any{"client_id": c.ClientID, "client_secret": c.ClientSecret}, 0)
	if isConflict(err) {
		return false, nil
	}
	return err == nil, err
}

// CheckProviderRef allows only <prefix>/providers/<name>, as vaultstore's
// does: a widget package's reference must not reach other secrets.
func (s *Store) CheckProviderRef(path string) error {
	name, ok := strings.CutPrefix(path, s.prefix+"/providers/")
	if !ok || name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
		return fmt.Errorf("%w: %q is not under %s/providers/ (one secret per provider)", vaultstore.ErrRefNotAllowed, path, s.prefix)
	}
	return nil
}

// ProviderSecret reads field of the provider secret at path.
func (s *Store) ProviderSecret(ctx context.Context, path, field string) (string, error) {
	if err := s.CheckProviderRef(path); err != nil {
		return "", err
	}
	data, _, err := s.get(ctx, path)
	if err != nil {
		return "", err
	}
	v := str(data, field)
	if v == "" {
		return "", fmt.Errorf("vault reference %s#%s: %w (field empty or missing)", path, field, passport.ErrNotFound)
	}
	return v, nil
}
