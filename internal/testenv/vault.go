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
	"strings"
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
	bin    string
	home   string // HOME of the server, with its log (vault.log)
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
	v := &Vault{Addr: "http://" + FreeAddr(t), Token: RandomHex(t, 16), bin: bin,
		home: t.TempDir()} // dev mode writes ~/.vault-token; keep it out of the real home
	cfg := vault.DefaultConfig()
	cfg.Address = v.Addr
	cfg.MaxRetries = 0
	v.Client, err = vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.Client.SetToken(v.Token)
	t.Cleanup(v.Stop) // before run: a server that never unseals is stopped too
	v.run(t)
	return v
}

// Start starts a stopped Vault again, on the same address with the same
// root token, and waits until it is unsealed. A dev server keeps its data
// in memory: what was written before Stop is gone (the KV v2 mount
// secret/ is back, empty but for widgetgate/_ready).
func (v *Vault) Start(t testing.TB) {
	t.Helper()
	select {
	case <-v.done:
	default:
		t.Fatal("testenv: Vault.Start while it runs; Stop it first")
	}
	v.run(t)
}

// run starts the server process and waits until it is unsealed.
func (v *Vault) run(t testing.TB) {
	t.Helper()
	addr := strings.TrimPrefix(v.Addr, "http://")
	cmd := exec.Command(v.bin, "server", "-dev", "-dev-listen-address="+addr, "-dev-root-token-id="+v.Token)
	cmd.Env = append(os.Environ(), "HOME="+v.home, "VAULT_ADDR=", "VAULT_TOKEN=")
	logPath := filepath.Join(v.home, "vault.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting vault: %v", err)
	}
	done := make(chan struct{})
	v.cmd, v.done = cmd, done
	go func() { cmd.Wait(); logFile.Close(); close(done) }()

	WaitFor(t, 60*time.Second, "vault to unseal", func() error {
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
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
}

// Stop stops Vault and waits for it to exit. Stopping a stopped Vault
// does nothing.
func (v *Vault) Stop() {
	if v.cmd != nil {
		stop(v.cmd, v.done)
	}
}

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
