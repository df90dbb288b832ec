// Package memstore is the in-memory store unit tests use where they would
// otherwise need a Vault binary: vaultstore's own Store over an in-memory
// KV v2 mount (vaultstore.NewInMemory), so the record logic they exercise
// is the production code. The storetest suite runs against it here and
// against a real Vault in vaultstore's tests.
package memstore

import "github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"

// DefaultPrefix is where the data lives when New is given no prefix, as
// in vaultstore.
const DefaultPrefix = "widgetgate"

// Store is vaultstore.Store; one from New also has the test hooks Put
// (seed a secret) and SetUnavailable.
type Store = vaultstore.Store

// New returns an empty in-memory store whose data lives under prefix (""
// means DefaultPrefix).
func New(prefix string) *Store { return vaultstore.NewInMemory(prefix) }
