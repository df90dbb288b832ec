// Package testenv starts the real programs the integration tests run
// against: a Vault dev server and widgetgate itself (Caddy with our module),
// each on a free loopback port, stopped when the test ends.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// VaultBinary finds the vault binary: $VAULT_BIN (the Makefile sets it from
// scripts/vault.sh, which builds Vault once into ~/.cache), then PATH.
func VaultBinary() (string, error) {
	if p := os.Getenv("VAULT_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("vault"); err == nil {
		return p, nil
	}
	return "", errors.New("no vault binary: run the tests with `make test` (it builds Vault once into ~/.cache/widgetgate) or set VAULT_BIN")
}

// Vault is a running Vault dev server.
type Vault struct {
	Addr   string // http://127.0.0.1:port
	Token  string // root token
	Client *vault.Client
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartVault starts "vault server -dev" on a free loopback port and waits
// until it is unsealed. It fails the test (never skips) when vault is
// missing: a green run must mean the integration tests ran.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	bin, err := VaultBinary()
	if err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	token := RandomHex(t, 16)
	home := t.TempDir() // dev mode writes ~/.vault-token; keep it out of the real home
	cmd := exec.Command(bin, "server", "-dev", "-dev-listen-address="+addr, "-dev-root-token-id="+token)
	cmd.Env = append(os.Environ(), "HOME="+home, "VAULT_ADDR=", "VAULT_TOKEN=")
	logFile, err := os.Create(filepath.Join(home, "vault.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting vault: %v", err)
	}
	v := &Vault{Addr: "http://" + addr, Token: token, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logFile.Close(); close(v.done) }()
	t.Cleanup(v.Stop)

	cfg := vault.DefaultConfig()
	cfg.Address = v.Addr
	cfg.MaxRetries = 0
	v.Client, err = vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.Client.SetToken(token)
	WaitFor(t, 60*time.Second, "vault to unseal", func() error {
		select {
		case <-v.done:
			log, _ := os.ReadFile(filepath.Join(home, "vault.log"))
			t.Fatalf("vault exited early:\n%s", log)
		default:
		}
		h, err := v.Client.Sys().Health()
		if err != nil {
			return err
		}
		if !h.Initialized || h.Sealed {
			return errors.New("sealed")
		}
		// The dev server mounts KV v2 at secret/ just after it unseals.
		_, err = v.Client.KVv2("secret").Put(context.Background(), "widgetgate/_ready", map[string]any{"ok": "1"})
		return err
	})
	return v
}

// Stop stops Vault and waits for it to exit.
func (v *Vault) Stop() { stop(v.cmd, v.done) }

// stop interrupts a child process and waits for it (done closes when it
// has exited), killing it if it does not stop within 10 s.
func stop(cmd *exec.Cmd, done <-chan struct{}) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Put writes a KV v2 secret at secret/<path>.
func (v *Vault) Put(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := v.Client.KVv2("secret").Put(context.Background(), path, data); err != nil {
		t.Fatalf("vault put %s: %v", path, err)
	}
}

// PutPassport stores an active passport with the given token, valid for an hour.
func (v *Vault) PutPassport(t testing.TB, id, provider, token string) {
	v.Put(t, "widgetgate/passports/"+id, map[string]any{
		"provider": provider, "status": "active", "access_token": token, "token_type": "Bearer",
		"refresh_token": "rt-" + id, "expiry": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	})
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// RandomHex returns n random bytes, hex-encoded.
func RandomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// WaitFor polls check until it succeeds or timeout passes. Polling with a
// deadline, not a fixed sleep: the test goes on the moment the condition holds.
func WaitFor(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// httpClient is used to probe readiness.
var httpClient = &http.Client{Timeout: 2 * time.Second}
