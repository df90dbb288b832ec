package vaultstore

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	vault "github.com/hashicorp/vault/api"
)

// kv is the KV v2 mount the Store reads and writes: the few raw secret
// operations it uses, with paths inside the mount. The Store wraps their
// errors itself (authorized, ErrUnavailable, ErrConflict), so every
// implementation answers as Vault's client does: a missing secret is
// vault.ErrSecretNotFound, a check-and-set write that lost is Vault's 400
// "check-and-set" response.
type kv interface {
	// Get reads the latest version of a secret.
	Get(ctx context.Context, path string) (*vault.KVSecret, error)
	// Put writes a new version; vault.WithCheckAndSet(n) makes it
	// conditional (0: the secret must not exist, n: it is at version n).
	Put(ctx context.Context, path string, data map[string]any, opts ...vault.KVOption) (*vault.KVSecret, error)
	// DeleteMetadata removes a secret with all its versions.
	DeleteMetadata(ctx context.Context, path string) error
	// List returns the keys directly under path ("name", or "name/" for a
	// folder); nil when there are none.
	List(ctx context.Context, path string) ([]string, error)
}

// vaultKV is a KV v2 mount in Vault.
type vaultKV struct {
	*vault.KVv2
	logical *vault.Logical
	mount   string
}

func newVaultKV(client *vault.Client, mount string) *vaultKV {
	return &vaultKV{KVv2: client.KVv2(mount), logical: client.Logical(), mount: mount}
}

func (v *vaultKV) List(ctx context.Context, path string) ([]string, error) {
	sec, err := v.logical.ListWithContext(ctx, v.mount+"/metadata/"+path)
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Data == nil {
		return nil, nil
	}
	keys, _ := sec.Data["keys"].([]any)
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		if name, ok := k.(string); ok {
			names = append(names, name)
		}
	}
	return names, nil
}

// memKV is an in-memory KV v2 mount with Vault's semantics: every write
// makes a new version, check-and-set is judged as Vault judges it, and
// deleting a secret's metadata forgets its versions. It is safe for
// concurrent use.
type memKV struct {
	mu          sync.Mutex
	secrets     map[string]memSecret
	unavailable bool
}

// memSecret is one secret's latest version.
type memSecret struct {
	data    map[string]any
	version int
}

// check reports why an operation cannot reach the mount: it is set
// unavailable, or ctx has ended (a Vault request would fail the same way).
func (m *memKV) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if m.unavailable {
		return fmt.Errorf("%w: the in-memory store is set unavailable", ErrUnavailable)
	}
	return nil
}

func (m *memKV) Get(ctx context.Context, path string) (*vault.KVSecret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	sec, ok := m.secrets[path]
	if !ok {
		return nil, fmt.Errorf("%w: at %s", vault.ErrSecretNotFound, path)
	}
	return &vault.KVSecret{Data: maps.Clone(sec.data), VersionMetadata: &vault.KVVersionMetadata{Version: sec.version}}, nil
}

func (m *memKV) Put(ctx context.Context, path string, data map[string]any, opts ...vault.KVOption) (*vault.KVSecret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	cur := m.secrets[path].version
	for _, opt := range opts {
		key, value := opt()
		cas, ok := value.(int)
		if key != vault.KVOptionCheckAndSet || !ok {
			return nil, fmt.Errorf("in-memory KV: option %s=%v not supported", key, value)
		}
		if cas != cur {
			return nil, &vault.ResponseError{HTTPMethod: http.MethodPut, URL: path, StatusCode: http.StatusBadRequest,
				Errors: []string{"check-and-set parameter did not match the current version"}}
		}
	}
	return &vault.KVSecret{Data: data, VersionMetadata: &vault.KVVersionMetadata{Version: m.write(path, data)}}, nil
}

// write stores a copy of data as path's next version and returns it; the
// caller holds m.mu.
func (m *memKV) write(path string, data map[string]any) int {
	v := m.secrets[path].version + 1
	m.secrets[path] = memSecret{data: maps.Clone(data), version: v}
	return v
}

func (m *memKV) DeleteMetadata(ctx context.Context, path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	delete(m.secrets, path)
	return nil
}

func (m *memKV) List(ctx context.Context, path string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	under := strings.TrimSuffix(path, "/") + "/"
	var names []string
	for p := range m.secrets {
		rest, ok := strings.CutPrefix(p, under)
		if !ok || rest == "" {
			continue
		}
		if dir, _, nested := strings.Cut(rest, "/"); nested {
			rest = dir + "/"
		}
		if !slices.Contains(names, rest) {
			names = append(names, rest)
		}
	}
	slices.Sort(names)
	return names, nil
}

// NewInMemory returns a Store over an empty in-memory KV v2 mount, its data
// under prefix ("" means "widgetgate", as in New): the same Store code on
// a map, for unit tests that would otherwise need a Vault binary. Put
// seeds it and SetUnavailable takes it down; Start and Stop do nothing.
func NewInMemory(prefix string) *Store {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		prefix = defaultPrefix
	}
	return &Store{kv: &memKV{secrets: map[string]memSecret{}}, prefix: prefix}
}

// memory is the in-memory mount of a Store from NewInMemory; the test
// hooks panic on a Store over Vault.
func (s *Store) memory() *memKV {
	m, ok := s.kv.(*memKV)
	if !ok {
		panic("vaultstore: test hook called on a Store over Vault (only NewInMemory's has it)")
	}
	return m
}

// Put writes a secret at path inside the mount unconditionally, as `vault
// kv put` does, and returns its new version: tests seed a Store from
// NewInMemory with it (it panics on one over Vault).
func (s *Store) Put(path string, data map[string]any) int {
	m := s.memory()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.write(path, data)
}

// SetUnavailable makes every read and write of a Store from NewInMemory
// fail with ErrUnavailable (down true) or work again (false), as Vault
// going away and coming back would. It panics on a Store over Vault.
func (s *Store) SetUnavailable(down bool) {
	m := s.memory()
	m.mu.Lock()
	m.unavailable = down
	m.mu.Unlock()
}
