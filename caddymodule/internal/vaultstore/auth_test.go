package vaultstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

func TestAuthConfigValidation(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1")
	missing := filepath.Join(t.TempDir(), "does-not-exist")
	bad := []struct {
		name string
		cfg  vaultstore.AuthConfig
		want string
	}{
		{"approle without role id", vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, SecretIDFile: missing}, "role_id"},
		{"approle with both role ids", vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleID: "r", RoleIDFile: missing}, "role_id_file"},
		{"wrapped without a secret id file", vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleID: "r", SecretIDWrapped: true}, "secret_id_file"},
		{"kubernetes without role", vaultstore.AuthConfig{Method: vaultstore.AuthKubernetes}, "kubernetes_role"},
		{"unknown method", vaultstore.AuthConfig{Method: "ldap"}, `"ldap"`},
		{"token and token file", vaultstore.AuthConfig{Token: "t", TokenFile: missing}, "not both"},
		{"token_file without a file", vaultstore.AuthConfig{Method: vaultstore.AuthTokenFile}, "token_file"},
		{"another method's setting", vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleID: "r", Token: "t"}, "token is not used by method approle"},
		{"bad mount", vaultstore.AuthConfig{Method: vaultstore.AuthKubernetes, KubernetesRole: "r", KubernetesMount: "../sys"}, "kubernetes_mount"},
		{"negative interval", vaultstore.AuthConfig{TokenFile: missing, FileCheckInterval: -time.Second}, "file_check_interval"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vaultstore.NewAuthenticator(c, tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}

	// Valid configs pointing at files that do not exist: NewAuthenticator
	// reads no files (it runs on "caddy validate").
	good := []struct {
		cfg  vaultstore.AuthConfig
		want vaultstore.AuthMethod
	}{
		{vaultstore.AuthConfig{}, vaultstore.AuthToken},
		{vaultstore.AuthConfig{Token: "t"}, vaultstore.AuthToken},
		{vaultstore.AuthConfig{TokenFile: missing}, vaultstore.AuthTokenFile},
		{vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleIDFile: missing, SecretIDFile: missing, SecretIDWrapped: true, AppRoleMount: "/team/approle/"}, vaultstore.AuthAppRole},
		{vaultstore.AuthConfig{Method: vaultstore.AuthKubernetes, KubernetesRole: "r", ServiceAccountTokenFile: missing}, vaultstore.AuthKubernetes},
	}
	for _, tc := range good {
		a, err := vaultstore.NewAuthenticator(c, tc.cfg, nil)
		if err != nil {
			t.Errorf("%+v: %v", tc.cfg, err)
			continue
		}
		if a.Method() != tc.want {
			t.Errorf("%+v: method %s, want %s", tc.cfg, a.Method(), tc.want)
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

// TestKubernetesLogin cannot log in for real: Vault's Kubernetes auth has
// the JWT checked by a Kubernetes API server's TokenReview, and there is no
// cluster here. So it runs against a real Vault whose Kubernetes auth points
// at a stand-in API server that records the token Vault asks it to review
// and always refuses, and it expects the login to FAIL. That proves the
// request is formed and posted to auth/<mount>/login with role and jwt (Vault
// forwards exactly the JWT it received), that the error names the mount and
// the role but not the JWT, and that the service account token file is read
// at each login (a rotated token is the one sent next).
func TestKubernetesLogin(t *testing.T) {
	var (
		mu       sync.Mutex
		reviewed []string
	)
	kube := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Spec struct {
				Token string `json:"token"`
			} `json:"spec"`
		}
		if r.URL.Path == "/apis/authentication.k8s.io/v1/tokenreviews" && json.NewDecoder(r.Body).Decode(&review) == nil {
			mu.Lock()
			reviewed = append(reviewed, review.Spec.Token)
			mu.Unlock()
		}
		http.Error(w, `{"kind":"Status","status":"Failure","code":503}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(kube.Close)
	wasReviewed := func(jwt string) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range reviewed {
			if r == jwt {
				return nil
			}
		}
		return fmt.Errorf("Vault had %d tokens reviewed, not the current one", len(reviewed))
	}

	v := testenv.StartVault(t)
	if err := v.Client.Sys().EnableAuthWithOptions("k8s", &vault.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().Write("auth/k8s/role/widgetgate", map[string]any{
		"bound_service_account_names": "widgetgate", "bound_service_account_namespaces": "default",
	}); err != nil {
		t.Fatal(err)
	}
	// Without a reviewer JWT or the pod's own, Vault reviews the login JWT
	// with itself as the credential.
	if _, err := v.Client.Logical().Write("auth/k8s/config", map[string]any{
		"kubernetes_host": kube.URL, "disable_local_ca_jwt": true,
	}); err != nil {
		t.Fatal(err)
	}
	// An unsigned service account JWT: Vault reads its claims (namespace,
	// name) before asking the API server, so they must look right.
	newJWT := func() string {
		b64 := base64.RawURLEncoding.EncodeToString
		return b64([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." +
			b64([]byte(`{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:default:widgetgate",`+
				`"kubernetes.io/serviceaccount/namespace":"default",`+
				`"kubernetes.io/serviceaccount/service-account.name":"widgetgate",`+
				`"kubernetes.io/serviceaccount/service-account.uid":"`+testenv.RandomHex(t, 8)+`"}`)) + "." +
			b64([]byte(testenv.RandomHex(t, 32)))
	}
	dir := t.TempDir()
	jwt1 := newJWT()
	saFile := writeFile(t, dir, "token", jwt1+"\n")
	c := newClient(t, v.Addr)
	a, logs := startAuth(t, c, vaultstore.AuthConfig{Method: vaultstore.AuthKubernetes, KubernetesMount: "k8s",
		KubernetesRole: "widgetgate", ServiceAccountTokenFile: saFile})

	err := a.EnsureToken(context.Background())
	if err == nil {
		t.Fatal("kubernetes login succeeded without a Kubernetes API")
	}
	for _, want := range []string{"auth/k8s/login", `role "widgetgate"`, "from Vault"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	t.Logf("login error, as expected: %v", err)
	assertNoSecrets(t, "error", err.Error(), jwt1)
	if err := wasReviewed(jwt1); err != nil {
		t.Fatalf("the JWT did not reach Vault: %v", err)
	}

	// Kubernetes rotates projected tokens: the next login sends the new one.
	jwt2 := newJWT()
	writeFile(t, dir, "token", jwt2)
	// Poll: EnsureToken answers from its last attempt for a second.
	testenv.WaitFor(t, 10*time.Second, "a login with the rotated JWT", func() error {
		a.EnsureToken(context.Background())
		return wasReviewed(jwt2)
	})

	if err := os.Remove(saFile); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "a login attempt to miss the token file", func() error {
		err := a.EnsureToken(context.Background())
		if err == nil || !strings.Contains(err.Error(), saFile) {
			return fmt.Errorf("EnsureToken = %v", err)
		}
		return nil
	})
	assertNoSecrets(t, "log", logs.String(), jwt1, jwt2)
}
