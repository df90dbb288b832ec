package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// vaultEnv is a Vault dev server plus a counting reverse proxy in front of
// it. widgetgate talks to Vault only through the proxy, so every request
// widgetgate makes is counted (by kind: passport, binding, list, ...) while
// the harness's own writes go to Vault directly and are not.
type vaultEnv struct {
	bin, addr, token, home string
	proc                   *proc
	client                 *vault.Client
	proxyAddr              string
	mu                     sync.Mutex
	counts                 map[string]int64
}

func startVault(bin, cpu, dir string) (*vaultEnv, error) {
	v := &vaultEnv{bin: bin, addr: freeAddr(), token: "bench-root-token", home: mkdirs(dir, "vault-home"), counts: map[string]int64{}}
	p, err := startProc("vault", filepath.Join(dir, "vault.log"), []string{"HOME=" + v.home, "VAULT_ADDR=", "VAULT_TOKEN="},
		pinned(cpu, bin, "server", "-dev", "-dev-listen-address="+v.addr, "-dev-root-token-id="+v.token)...)
	if err != nil {
		return nil, err
	}
	v.proc = p
	cfg := vault.DefaultConfig()
	cfg.Address = "http://" + v.addr
	cfg.MaxRetries = 0
	if t, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = 64 // putMany writes 32 at a time
	}
	if v.client, err = vault.NewClient(cfg); err != nil {
		return nil, err
	}
	v.client.SetToken(v.token)
	// The dev server mounts KV v2 at secret/ just after it unseals.
	err = waitUntil(p, 60*time.Second, 50*time.Millisecond, func() error {
		_, err := v.client.KVv2("secret").Put(context.Background(), "widgetgate/_ready", map[string]any{"ok": "1"})
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, v.startProxy()
}

func (v *vaultEnv) startProxy() error {
	target, _ := url.Parse("http://" + v.addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	v.proxyAddr = freeAddr()
	srv := &http.Server{Addr: v.proxyAddr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.counts[vaultKind(r)]++
		v.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(100 * time.Millisecond):
		return nil
	}
}

// vaultKind classifies a request widgetgate made to Vault.
func vaultKind(r *http.Request) string {
	p := r.URL.Path
	list := r.Method == "LIST" || r.URL.Query().Get("list") == "true"
	for _, k := range []string{"passports", "bindings", "providers", "leases"} {
		if strings.Contains(p, "/widgetgate/"+k) {
			if list {
				return k + " list"
			}
			return k + " " + strings.ToLower(r.Method)
		}
	}
	if strings.HasPrefix(p, "/v1/auth/token/") {
		return "token " + strings.TrimPrefix(p, "/v1/auth/token/")
	}
	return "other " + r.Method + " " + p
}

// snapshot returns the counts so far.
func (v *vaultEnv) snapshot() map[string]int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.counts)
}

// diff returns after-before by kind (zero kinds left out) and the total.
func diffCounts(before, after map[string]int64) (map[string]int64, int64) {
	d := map[string]int64{}
	var total int64
	for k, n := range after {
		if n-before[k] != 0 {
			d[k] = n - before[k]
			total += n - before[k]
		}
	}
	return d, total
}

// cli runs the vault CLI against the dev server, as an operator would.
func (v *vaultEnv) cli(args ...string) error {
	cmd := exec.Command(v.bin, args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR=http://"+v.addr, "VAULT_TOKEN="+v.token, "HOME="+v.home)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vault %s: %v\n%s", strings.Join(args[:2], " "), err, out)
	}
	return nil
}

// passportFields is one active passport holding token, valid for a day
// (no refresh token: the background refresher has nothing to do).
func passportFields(token string) map[string]any {
	return map[string]any{
		"provider": "google", "status": "active", "access_token": token, "token_type": "Bearer",
		"expiry": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
	}
}

// putMany writes passports pp-<i> and bindings inst-<i> (benchAuth=pp-<i>)
// for i in [from, to), with 32 writes in flight, straight to Vault.
func (v *vaultEnv) putMany(from, to int, token string) error {
	kv := v.client.KVv2("secret")
	var next atomic.Int64
	next.Store(int64(from))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				ctx := context.Background()
				_, err := kv.Put(ctx, "widgetgate/passports/"+passportID(i), passportFields(token))
				if err == nil {
					_, err = kv.Put(ctx, "widgetgate/bindings/"+instanceID(i), map[string]any{"benchAuth": passportID(i)})
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func passportID(i int) string { return fmt.Sprintf("pp-%06d", i) }
func instanceID(i int) string { return fmt.Sprintf("inst-%06d", i) }
