// Package memstore is an in-memory store with the semantics of
// vaultstore.Store's Vault KV v2 secrets: every write makes a new version,
// a check-and-set write on a stale version fails with
// vaultstore.ErrConflict, and a missing secret is passport.ErrNotFound.
// Unit tests use it where they would otherwise need a Vault binary; the
// storetest suite checks that it and the Vault store behave alike.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// DefaultPrefix is where the data lives when New is given no prefix, as
// in vaultstore.
const DefaultPrefix = "widgetgate"

// Store holds secrets by their path inside the mount
// ("widgetgate/passports/pp"). It is safe for concurrent use.
type Store struct {
	prefix string

	mu          sync.Mutex
	secrets     map[string]secret
	unavailable bool
}

// secret is one KV v2 secret's latest version.
type secret struct {
	data    map[string]any
	version int
}

// New returns an empty store whose data lives under prefix ("" means
// DefaultPrefix).
func New(prefix string) *Store {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{prefix: prefix, secrets: map[string]secret{}}
}

// Put writes a secret at path inside the mount unconditionally, as
// `vault kv put` does, and returns its new version: tests seed data with it.
func (s *Store) Put(path string, data map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.secrets[path].version + 1
	s.secrets[path] = secret{data: maps.Clone(data), version: v}
	return v
}

// SetUnavailable makes every read and write fail with
// vaultstore.ErrUnavailable (down true) or work again (false), as Vault
// going away and coming back would.
func (s *Store) SetUnavailable(down bool) {
	s.mu.Lock()
	s.unavailable = down
	s.mu.Unlock()
}

// check reports why an operation cannot reach the store: it is down, or
// ctx has ended (a Vault request would fail the same way).
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", vaultstore.ErrUnavailable, err)
	}
	if s.unavailable {
		return fmt.Errorf("%w: the in-memory store is set unavailable", vaultstore.ErrUnavailable)
	}
	return nil
}

// get returns a copy of the secret at path and its version.
func (s *Store) get(ctx context.Context, path string) (map[string]any, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, 0, err
	}
	sec, ok := s.secrets[path]
	if !ok {
		return nil, 0, passport.ErrNotFound
	}
	return maps.Clone(sec.data), sec.version, nil
}

// put writes path with check-and-set on version (0: must not exist).
func (s *Store) put(ctx context.Context, path string, data map[string]any, version int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	cur := s.secrets[path].version
	if cur != version {
		return 0, fmt.Errorf("%w: %s at version %d", vaultstore.ErrConflict, path, version)
	}
	s.secrets[path] = secret{data: maps.Clone(data), version: cur + 1}
	return cur + 1, nil
}

// deleteAll removes path with all its versions, like deleting a KV v2
// secret's metadata.
func (s *Store) deleteAll(ctx context.Context, path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	delete(s.secrets, path)
	return nil
}

// list returns the valid ids directly under <prefix>/<dir>, sorted as
// Vault lists them.
func (s *Store) list(ctx context.Context, dir string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	under := s.prefix + "/" + dir + "/"
	var ids []string
	for path := range s.secrets {
		if id, ok := strings.CutPrefix(path, under); ok && vaultstore.ValidID(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// str reads a string field, trimming a trailing newline as vaultstore does
// (`vault kv put key=@file` keeps the one editors write).
func str(data map[string]any, key string) string {
	v, _ := data[key].(string)
	return strings.TrimRight(v, "\r\n")
}

// isConflict reports a lost check-and-set.
func isConflict(err error) bool { return errors.Is(err, vaultstore.ErrConflict) }

var _ passport.Store = (*Store)(nil)
