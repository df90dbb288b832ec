package vaultstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

func TestTokenFile(t *testing.T) {
	v := testenv.StartVault(t)
	if err := v.Client.Sys().PutPolicy("widgetgate-read", readPolicy); err != nil {
		t.Fatal(err)
	}
	v.PutPassport(t, "p1", "google", "tok-1")
	newToken := func() string {
		t.Helper()
		sec, err := v.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"widgetgate-read"}, TTL: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		return sec.Auth.ClientToken
	}

	t.Run("the watcher installs a rewritten token", func(t *testing.T) {
		dir := t.TempDir()
		t1 := newToken()
		path := writeFile(t, dir, "token", t1+"\n")
		c := newClient(t, v.Addr)
		// Method "" with only a token file selects token_file.
		a, logs := startAuth(t, c, vaultstore.AuthConfig{TokenFile: path, FileCheckInterval: 20 * time.Millisecond})
		if a.Method() != vaultstore.AuthTokenFile {
			t.Fatalf("method = %s, want token_file", a.Method())
		}
		if err := readPassport(c); err != nil {
			t.Fatalf("read: %v", err)
		}

		t2 := newToken()
		writeFile(t, dir, "token", t2+"\n")
		if err := v.Client.Auth().Token().RevokeOrphan(t1); err != nil {
			t.Fatal(err)
		}
		// Nothing but the file watcher can fix the client's token here.
		testenv.WaitFor(t, 10*time.Second, "the watcher to pick up the new token", func() error { return readPassport(c) })
		if c.Token() != t2 {
			t.Error("the client's token is not the one now in the file")
		}
		assertNoSecrets(t, "log", logs.String(), t1, t2)
	})

	t.Run("Relogin re-reads the file at once", func(t *testing.T) {
		dir := t.TempDir()
		t1 := newToken()
		path := writeFile(t, dir, "token", t1)
		c := newClient(t, v.Addr)
		// The watcher would not look for an hour.
		a, logs := startAuth(t, c, vaultstore.AuthConfig{Method: vaultstore.AuthTokenFile, TokenFile: path, FileCheckInterval: time.Hour})
		if err := readPassport(c); err != nil {
			t.Fatalf("read: %v", err)
		}
		t2 := newToken()
		writeFile(t, dir, "token", t2)
		if err := v.Client.Auth().Token().RevokeOrphan(t1); err != nil {
			t.Fatal(err)
		}
		if err := readPassport(c); !isForbidden(err) {
			t.Fatalf("read with the revoked token: got %v, want 403", err)
		}
		if err := a.Relogin(context.Background()); err != nil {
			t.Fatalf("Relogin: %v", err)
		}
		if err := readPassport(c); err != nil {
			t.Fatalf("read after Relogin: %v", err)
		}

		// With the file unchanged and its token revoked there is nothing
		// to retry with: Relogin says so, naming the file.
		if err := v.Client.Auth().Token().RevokeOrphan(t2); err != nil {
			t.Fatal(err)
		}
		var err error
		testenv.WaitFor(t, 10*time.Second, "Relogin to report the stale file", func() error {
			if err = a.Relogin(context.Background()); err == nil {
				return errors.New("Relogin succeeded")
			}
			return nil
		})
		if !strings.Contains(err.Error(), path) {
			t.Errorf("Relogin error %q does not name the token file", err)
		}
		assertNoSecrets(t, "error", err.Error(), t1, t2)
		assertNoSecrets(t, "log", logs.String(), t1, t2)
	})
}
