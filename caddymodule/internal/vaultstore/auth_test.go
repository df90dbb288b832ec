package vaultstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// These tests run against a real Vault dev server (testenv.StartVault):
// logins, renewals, wrapping and token expiry are Vault's behaviour, which a
// mock would only restate.

const readPolicy = `path "secret/data/widgetgate/*" { capabilities = ["read"] }`

// logBuffer collects an Authenticator's log so tests can check it for
// secrets; it is printed when a test fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	// Registered before the Authenticator's Stop, so it runs after it: the
	// log is complete when printed.
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("AUTHLOG") != "" {
			t.Logf("authenticator log:\n%s", buf)
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// newClient returns a client for addr with no token, like the one Store
// builds (no retries).
func newClient(t *testing.T, addr string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = 5 * time.Second
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	return c
}

func newAuth(t *testing.T, c *vault.Client, cfg vaultstore.AuthConfig) (*vaultstore.Authenticator, *logBuffer) {
	t.Helper()
	logger, logs := newLogger(t)
	a, err := vaultstore.NewAuthenticator(c, cfg, logger)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	t.Cleanup(a.Stop)
	return a, logs
}

func startAuth(t *testing.T, c *vault.Client, cfg vaultstore.AuthConfig) (*vaultstore.Authenticator, *logBuffer) {
	t.Helper()
	a, logs := newAuth(t, c, cfg)
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return a, logs
}

// writeFile replaces dir/name atomically, as Vault Agent's sink does.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

func readPassport(c *vault.Client) error {
	_, err := c.KVv2("secret").Get(context.Background(), "widgetgate/passports/p1")
	return err
}

func isForbidden(err error) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

func accessor(t *testing.T, c *vault.Client) string {
	t.Helper()
	sec, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	acc, err := sec.TokenAccessor()
	if err != nil || acc == "" {
		t.Fatalf("no accessor in lookup-self (%v)", err)
	}
	return acc
}

// assertNoSecrets fails if any of the secrets appears in text. It names
// the secret by index: printing it would defeat the point.
func assertNoSecrets(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for i, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains secret #%d", what, i)
		}
	}
}

func TestStartWithVaultDown(t *testing.T) {
	addr := "http://" + testenv.FreeAddr(t) // nothing listens there
	roleID := "role-" + testenv.RandomHex(t, 16)
	secretID := "secret-" + testenv.RandomHex(t, 16)
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "secret-id", secretID)

	t.Run("approle", func(t *testing.T) {
		c := newClient(t, addr)
		a, logs := newAuth(t, c, vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleID: roleID, SecretIDFile: secretFile})
		begin := time.Now()
		if err := a.Start(context.Background()); err != nil {
			t.Fatalf("Start with Vault down: %v", err)
		}
		if d := time.Since(begin); d > 5*time.Second {
			t.Errorf("Start took %s with Vault down", d)
		}
		err := a.EnsureToken(context.Background())
		if err == nil {
			t.Fatal("EnsureToken succeeded with Vault down")
		}
		if !strings.Contains(err.Error(), "auth/approle/login") {
			t.Errorf("EnsureToken error %q does not say what failed", err)
		}
		if c.Token() != "" {
			t.Error("the client has a token although no login succeeded")
		}
		assertNoSecrets(t, "error", err.Error(), roleID, secretID)
		assertNoSecrets(t, "log", logs.String(), roleID, secretID)
	})

	t.Run("token file not written yet", func(t *testing.T) {
		c := newClient(t, addr)
		path := filepath.Join(dir, "sink")
		a, _ := startAuth(t, c, vaultstore.AuthConfig{TokenFile: path})
		err := a.EnsureToken(context.Background())
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("EnsureToken = %v, want an error naming %s", err, path)
		}
	})
}
