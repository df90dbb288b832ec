package vaultstore

import (
	"context"
	"errors"
	"slices"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

// The in-memory mount answers as Vault's client does: folders listed as
// "name/", check-and-set 0 only creates, a lost check-and-set is Vault's
// 400 and a missing secret vault.ErrSecretNotFound.
func TestMemKV(t *testing.T) {
	ctx := context.Background()
	m := &memKV{secrets: map[string]memSecret{}}
	for _, p := range []string{"p/d/b", "p/d/a", "p/d/sub/x", "p/d/sub/y", "p/other"} {
		if _, err := m.Put(ctx, p, map[string]any{"k": "v"}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := m.List(ctx, "p/d"); err != nil || !slices.Equal(got, []string{"a", "b", "sub/"}) {
		t.Errorf("List = %q, %v", got, err)
	}
	if got, err := m.List(ctx, "p/none"); err != nil || got != nil {
		t.Errorf("List(empty) = %q, %v, want nil", got, err)
	}
	if _, err := m.Put(ctx, "p/d/a", nil, vault.WithCheckAndSet(0)); !isCASConflict(err) {
		t.Errorf("cas 0 on an existing secret = %v, want a check-and-set conflict", err)
	}
	sec, err := m.Put(ctx, "p/d/a", map[string]any{"k": "w"}, vault.WithCheckAndSet(1))
	if err != nil || sec.VersionMetadata.Version != 2 {
		t.Fatalf("cas 1 = %+v, %v", sec, err)
	}
	if err := m.DeleteMetadata(ctx, "p/d/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, "p/d/a"); !errors.Is(err, vault.ErrSecretNotFound) {
		t.Errorf("Get after delete = %v, want ErrSecretNotFound", err)
	}
	if sec, err := m.Put(ctx, "p/d/a", nil, vault.WithCheckAndSet(0)); err != nil || sec.VersionMetadata.Version != 1 {
		t.Errorf("cas 0 after delete = %+v, %v, want version 1", sec, err)
	}
}

func TestInMemoryHooksPanicOnVault(t *testing.T) {
	s, err := New(Config{Address: "http://127.0.0.1:1", Auth: AuthConfig{Token: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("SetUnavailable on a Store over Vault did not panic")
		}
	}()
	s.SetUnavailable(true)
}
