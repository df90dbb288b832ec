package vaultstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// setupAppRole enables AppRole, and a role "widgetgate" whose tokens may
// read secret/widgetgate/*, and returns its role id.
func setupAppRole(t *testing.T, v *testenv.Vault, ttl, maxTTL string) string {
	t.Helper()
	if err := v.Client.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if err := v.Client.Sys().PutPolicy("widgetgate-read", readPolicy); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().Write("auth/approle/role/widgetgate", map[string]any{
		"token_policies": "widgetgate-read", "token_ttl": ttl, "token_max_ttl": maxTTL,
	}); err != nil {
		t.Fatal(err)
	}
	sec, err := v.Client.Logical().Read("auth/approle/role/widgetgate/role-id")
	if err != nil {
		t.Fatal(err)
	}
	return sec.Data["role_id"].(string)
}

func newSecretID(t *testing.T, v *testenv.Vault) string {
	t.Helper()
	sec, err := v.Client.Logical().Write("auth/approle/role/widgetgate/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	return sec.Data["secret_id"].(string)
}

// wrappingClient is a root client whose writes come back response-wrapped.
func wrappingClient(t *testing.T, v *testenv.Vault) *vault.Client {
	t.Helper()
	wc, err := v.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	wc.SetToken(v.Token)
	wc.SetWrappingLookupFunc(func(operation, path string) string { return "5m" })
	return wc
}

func TestAppRoleLogsInAgainAfterMaxTTL(t *testing.T) {
	v := testenv.StartVault(t)
	// Short lifetimes so that the token reaches its max TTL twice within
	// the test.
	const maxTTL = 4 * time.Second
	roleID := setupAppRole(t, v, "2s", "4s")
	secretID := newSecretID(t, v)
	dir := t.TempDir()
	roleFile := writeFile(t, dir, "role-id", roleID+"\n")
	secretFile := writeFile(t, dir, "secret-id", secretID+"\n")
	v.PutPassport(t, "p1", "google", "tok-1")

	c := newClient(t, v.Addr)
	_, logs := startAuth(t, c, vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleIDFile: roleFile, SecretIDFile: secretFile})
	if c.Token() == "" {
		t.Fatal("Start returned without logging in, with Vault up")
	}
	if err := readPassport(c); err != nil {
		t.Fatalf("read after login: %v", err)
	}
	first := accessor(t, c)
	tokens := []string{c.Token()}
	seen := map[string]bool{first: true}

	// Every read must succeed, without the 403-and-retry path: the
	// Authenticator logs in again before the old token dies.
	start := time.Now()
	testenv.WaitFor(t, 30*time.Second, "two max TTLs to pass", func() error {
		if err := readPassport(c); err != nil {
			t.Fatalf("read %s after login failed: %v", time.Since(start).Round(time.Millisecond), err)
		}
		if acc := accessor(t, c); !seen[acc] {
			seen[acc] = true
			tokens = append(tokens, c.Token())
		}
		if el := time.Since(start); el < 2*maxTTL+time.Second {
			return fmt.Errorf("%s elapsed", el.Round(time.Millisecond))
		}
		if len(seen) < 3 {
			return fmt.Errorf("%d tokens seen, want 3 (the first and one per max TTL)", len(seen))
		}
		return nil
	})

	// The first token is gone: the reads above succeeded on new ones.
	if _, err := v.Client.Auth().Token().LookupAccessor(first); err == nil {
		t.Error("the first token is still valid after its max TTL")
	}
	if !strings.Contains(logs.String(), "max TTL") {
		t.Error("log does not say the token reached its max TTL")
	}
	assertNoSecrets(t, "log", logs.String(), append(tokens, roleID, secretID)...)
}

func TestAppRoleWrappedSecretID(t *testing.T) {
	v := testenv.StartVault(t)
	roleID := setupAppRole(t, v, "1h", "2h")
	v.PutPassport(t, "p1", "google", "tok-1")
	wc := wrappingClient(t, v)

	t.Run("login unwraps the secret id", func(t *testing.T) {
		sec, err := wc.Logical().Write("auth/approle/role/widgetgate/secret-id", nil)
		if err != nil {
			t.Fatal(err)
		}
		if sec.WrapInfo == nil {
			t.Fatal("secret id was not wrapped")
		}
		wrapTok := sec.WrapInfo.Token
		secretFile := writeFile(t, t.TempDir(), "secret-id", wrapTok)

		c := newClient(t, v.Addr)
		a, logs := startAuth(t, c, vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleID: roleID,
			SecretIDFile: secretFile, SecretIDWrapped: true})
		if err := readPassport(c); err != nil {
			t.Fatalf("read after login: %v", err)
		}
		if _, err := v.Client.Logical().Unwrap(wrapTok); err == nil {
			t.Error("the wrapping token can still be unwrapped: the login did not use it")
		}
		acc := accessor(t, c)
		tokens := []string{c.Token()}

		// A 403 that is a policy denial keeps the valid token: Relogin
		// reports success (retry once) without minting a new token.
		if _, err := c.KVv2("secret").Get(context.Background(), "other/thing"); !isForbidden(err) {
			t.Fatalf("read outside the policy: got %v, want 403", err)
		}
		if err := a.Relogin(context.Background()); err != nil {
			t.Fatalf("Relogin with a valid token: %v", err)
		}
		if accessor(t, c) != acc {
			t.Error("Relogin logged in again although the token was valid")
		}

		// Once the token is revoked, Relogin logs in again. The wrapping
		// token is spent, so this proves the unwrapped secret id was kept.
		if err := v.Client.Auth().Token().RevokeOrphan(c.Token()); err != nil {
			t.Fatal(err)
		}
		if err := readPassport(c); !isForbidden(err) {
			t.Fatalf("read with a revoked token: got %v, want 403", err)
		}
		// Poll: Relogin answers from its last attempt for a second.
		testenv.WaitFor(t, 10*time.Second, "Relogin to log in again", func() error {
			if err := a.Relogin(context.Background()); err != nil {
				return err
			}
			return readPassport(c)
		})
		if accessor(t, c) == acc {
			t.Error("the token did not change")
		}
		tokens = append(tokens, c.Token())
		assertNoSecrets(t, "log", logs.String(), append(tokens, roleID, wrapTok)...)
	})

	t.Run("a token wrapping something else is not unwrapped", func(t *testing.T) {
		// Whoever can write the file must not be able to make us unwrap
		// (and so consume, or read) an arbitrary wrapped response.
		sec, err := wc.Logical().Write("sys/wrapping/wrap", map[string]any{"secret_id": "planted"})
		if err != nil {
			t.Fatal(err)
		}
		wrapTok := sec.WrapInfo.Token
		secretFile := writeFile(t, t.TempDir(), "secret-id", wrapTok)
		c := newClient(t, v.Addr)
		a, logs := startAuth(t, c, vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleID: roleID,
			SecretIDFile: secretFile, SecretIDWrapped: true})
		err = a.EnsureToken(context.Background())
		if err == nil || !strings.Contains(err.Error(), "refusing to unwrap") {
			t.Fatalf("EnsureToken = %v, want a refusal to unwrap", err)
		}
		assertNoSecrets(t, "error", err.Error(), wrapTok, roleID)
		assertNoSecrets(t, "log", logs.String(), wrapTok, roleID)
		if _, err := v.Client.Logical().Unwrap(wrapTok); err != nil {
			t.Errorf("the planted wrapping token was consumed: %v", err)
		}
	})
}
