package vaultstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

func TestStaticToken(t *testing.T) {
	v := testenv.StartVault(t)
	if err := v.Client.Sys().PutPolicy("widgetgate-read", readPolicy); err != nil {
		t.Fatal(err)
	}
	v.PutPassport(t, "p1", "google", "tok-1")

	t.Run("a renewable token is kept alive", func(t *testing.T) {
		// A 2s TTL with no max of its own: only renewal keeps it valid.
		const ttl = 2 * time.Second
		sec, err := v.Client.Auth().Token().Create(&vault.TokenCreateRequest{
			Policies: []string{"widgetgate-read"}, TTL: ttl.String(), Renewable: new(true)})
		if err != nil {
			t.Fatal(err)
		}
		tok := sec.Auth.ClientToken
		c := newClient(t, v.Addr)
		a, logs := startAuth(t, c, vaultstore.AuthConfig{Token: tok})
		start := time.Now()
		testenv.WaitFor(t, 30*time.Second, "three TTLs to pass", func() error {
			if err := readPassport(c); err != nil {
				t.Fatalf("read %s after start failed: %v", time.Since(start).Round(time.Millisecond), err)
			}
			if el := time.Since(start); el < 3*ttl {
				return fmt.Errorf("%s elapsed", el.Round(time.Millisecond))
			}
			return nil
		})
		if err := a.Relogin(context.Background()); err != nil {
			t.Errorf("Relogin with a valid token: %v", err)
		}

		if err := v.Client.Auth().Token().RevokeOrphan(tok); err != nil {
			t.Fatal(err)
		}
		var rerr error
		testenv.WaitFor(t, 10*time.Second, "Relogin to report the revoked token", func() error {
			if rerr = a.Relogin(context.Background()); rerr == nil {
				return errors.New("Relogin succeeded")
			}
			return nil
		})
		if !strings.Contains(rerr.Error(), "configured token") {
			t.Errorf("Relogin error %q does not say the configured token is rejected", rerr)
		}
		assertNoSecrets(t, "error", rerr.Error(), tok)
		assertNoSecrets(t, "log", logs.String(), tok)
	})

	t.Run("a root token is left alone", func(t *testing.T) {
		c := newClient(t, v.Addr)
		_, logs := startAuth(t, c, vaultstore.AuthConfig{Token: v.Token})
		if err := readPassport(c); err != nil {
			t.Fatalf("read: %v", err)
		}
		testenv.WaitFor(t, 10*time.Second, "the lookup to find the token not renewable", func() error {
			if !strings.Contains(logs.String(), "not renewable") {
				return errors.New("not logged yet")
			}
			return nil
		})
	})

	t.Run("VAULT_TOKEN is the fallback", func(t *testing.T) {
		t.Setenv("VAULT_TOKEN", v.Token)
		c := newClient(t, v.Addr) // clears the token it took from the environment
		a, _ := startAuth(t, c, vaultstore.AuthConfig{})
		if a.Method() != vaultstore.AuthToken || c.Token() != v.Token {
			t.Fatal("the token from VAULT_TOKEN is not in use")
		}
	})

	t.Run("no token anywhere", func(t *testing.T) {
		t.Setenv("VAULT_TOKEN", "")
		a, _ := newAuth(t, newClient(t, v.Addr), vaultstore.AuthConfig{})
		if err := a.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "VAULT_TOKEN") {
			t.Fatalf("Start = %v, want an error saying there is no token", err)
		}
	})
}
