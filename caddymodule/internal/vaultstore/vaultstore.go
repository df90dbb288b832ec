// Package vaultstore reads passports and bindings from a HashiCorp Vault
// KV version 2 mount, laid out as
//
//	<mount>/<prefix>/passports/<passportId>   provider, status, access_token, …
//	<mount>/<prefix>/bindings/<instanceId>    <authKey> = <passportId>, …
package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// Config says how to reach Vault and where the data lives.
type Config struct {
	Address       string
	Namespace     string
	Auth          AuthConfig // how the sidecar logs in (token, token file, AppRole, Kubernetes)
	CACert        string
	TLSServerName string
	Mount         string // KV v2 mount, default "secret"
	Prefix        string // path prefix inside the mount, default "widgetgate"
	// Timeout bounds one Vault request (never the client's 60 s default:
	// Vault sits on the request path). Default 5s.
	Timeout time.Duration
	// MaxConnections bounds the connections to Vault; as many are kept
	// alive between requests. The client's default keeps GOMAXPROCS+1
	// idle and opens any number: a burst of reads dialled and then closed
	// thousands of connections. Default passport.DefaultMaxConcurrentReads,
	// to match the cache's bound on concurrent reads.
	MaxConnections int
	Logger         *slog.Logger
}

// Store reads and writes widgetgate's data in Vault. It is safe for
// concurrent use.
type Store struct {
	client *vault.Client  // nil in a Store from NewInMemory
	auth   *Authenticator // nil in a Store from NewInMemory
	kv     kv
	prefix string
}

// defaultPrefix is where the data lives when Config.Prefix is empty.
const defaultPrefix = "widgetgate"

// ErrUnavailable wraps every failure to get an answer from Vault.
var ErrUnavailable = errors.New("vault unavailable")

// StaticBindings checks the operator's static_bindings (instance id, or
// "*" for every instance, to auth key to passport id) with the id rules of
// Vault's bindings, and returns them as the passport cache takes them.
func StaticBindings(m map[string]map[string]string) (map[string]passport.Bindings, error) {
	out := make(map[string]passport.Bindings, len(m))
	for inst, b := range m {
		if inst != "*" && !ValidID(inst) {
			return nil, fmt.Errorf("static_bindings: instance id %q is not valid", inst)
		}
		for key, id := range b {
			if !ValidID(id) {
				return nil, fmt.Errorf("static_bindings[%s][%s]: passport id %q is not valid", inst, key, id)
			}
		}
		out[inst] = passport.Bindings(b)
	}
	return out, nil
}

// ValidID reports whether s can name a passport or an instance: 1 to 128
// of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit, with no "..".
// Ids become Vault paths, and a '/' or '..' in one would address another
// secret. (A loop, not a regexp: every call checks its instance id.)
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 128 || !isAlnum(s[0]) || strings.Contains(s, "..") {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '@' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// New builds a Store. It does no network I/O and reads no file, so it is
// safe in a Caddy Provision, which also runs on "caddy validate".
func New(cfg Config) (*Store, error) {
	vc := vault.DefaultConfig()
	if vc.Error != nil {
		return nil, fmt.Errorf("vault client defaults: %w", vc.Error)
	}
	if cfg.Address != "" {
		vc.Address = cfg.Address
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	vc.Timeout = cfg.Timeout
	// Retries would hold a widget call for seconds while Vault is down; the
	// cache already serves what it has, so fail fast and let callers retry.
	vc.MaxRetries = 0
	if cfg.CACert != "" || cfg.TLSServerName != "" {
		if err := vc.ConfigureTLS(&vault.TLSConfig{CACert: cfg.CACert, TLSServerName: cfg.TLSServerName}); err != nil {
			return nil, fmt.Errorf("vault TLS config (ca_cert %q): %w", cfg.CACert, err)
		}
	}
	// After ConfigureTLS, which keeps the transport and changes its TLS
	// settings only.
	if err := pool(vc, cfg.MaxConnections); err != nil {
		return nil, err
	}
	client, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", vc.Address, err)
	}
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	}
	auth, err := NewAuthenticator(client, cfg.Auth, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &Store{client: client, auth: auth}
	if cfg.Mount == "" {
		cfg.Mount = "secret"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	s.kv = newVaultKV(client, strings.Trim(cfg.Mount, "/"))
	s.prefix = strings.Trim(cfg.Prefix, "/")
	return s, nil
}

// pool sizes the Vault client's connection pool to n connections, all
// kept alive, so reads reuse connections instead of dialling new ones.
func pool(vc *vault.Config, n int) error {
	if n <= 0 {
		n = passport.DefaultMaxConcurrentReads
	}
	t, ok := vc.HttpClient.Transport.(*http.Transport)
	if !ok {
		return fmt.Errorf("vault client: unexpected transport %T", vc.HttpClient.Transport)
	}
	t.MaxConnsPerHost = n
	t.MaxIdleConnsPerHost = n
	t.MaxIdleConns = max(t.MaxIdleConns, n)
	return nil
}

// Start logs in to Vault and keeps the sidecar's token alive. It does not
// fail when Vault is down: reads answer "unavailable" until login works.
func (s *Store) Start(ctx context.Context) error {
	if s.auth == nil {
		return nil
	}
	return s.auth.Start(ctx)
}

// Stop ends the background login and renewal.
func (s *Store) Stop() {
	if s.auth != nil {
		s.auth.Stop()
	}
}

// get reads one KV v2 secret.
func (s *Store) get(ctx context.Context, path string) (map[string]any, error) {
	data, _, err := s.getVersioned(ctx, path)
	return data, err
}

// authorized runs op with a token: it logs in first when there is none
// yet, and after a 403 logs in again (or re-reads the token file) and runs
// op once more: Vault Agent may have rotated the file, a lease may have
// ended early. An in-memory Store has no token to get: it runs op.
func (s *Store) authorized(ctx context.Context, op func() error) error {
	if s.auth == nil {
		return op()
	}
	if s.client.Token() == "" {
		if err := s.auth.EnsureToken(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	err := op()
	if isForbidden(err) && s.auth.Relogin(ctx) == nil {
		err = op()
	}
	return err
}

// getVersioned is get that also returns the secret's KV version, for
// check-and-set writes.
func (s *Store) getVersioned(ctx context.Context, path string) (map[string]any, int, error) {
	var sec *vault.KVSecret
	err := s.authorized(ctx, func() (err error) {
		sec, err = s.kv.Get(ctx, path)
		return err
	})
	switch {
	case errors.Is(err, vault.ErrSecretNotFound):
		return nil, 0, passport.ErrNotFound
	case errors.Is(err, ErrUnavailable):
		return nil, 0, err
	case err != nil:
		return nil, 0, fmt.Errorf("%w: reading %s: %s", ErrUnavailable, path, describe(err))
	case sec == nil || sec.Data == nil:
		return nil, 0, passport.ErrNotFound
	}
	version := 0
	if sec.VersionMetadata != nil {
		version = sec.VersionMetadata.Version
	}
	return sec.Data, version, nil
}

func isForbidden(err error) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// describe turns a Vault client error into a short reason without the
// response body (which can echo request data).
func describe(err error) string {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		if re.StatusCode == http.StatusForbidden {
			return "HTTP 403 from Vault: permission denied (check widgetgate's Vault token and its policy)"
		}
		return fmt.Sprintf("HTTP %d from Vault", re.StatusCode)
	}
	return err.Error()
}

// Passport reads <prefix>/passports/<id>.
func (s *Store) Passport(ctx context.Context, id string) (*passport.Passport, error) {
	rec, err := s.PassportRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	return rec.Passport, nil
}

// Bindings reads <prefix>/bindings/<instance>.
func (s *Store) Bindings(ctx context.Context, instance string) (passport.Bindings, error) {
	if !ValidID(instance) {
		return nil, passport.ErrNotFound
	}
	data, err := s.get(ctx, s.prefix+"/bindings/"+instance)
	if err != nil {
		return nil, err
	}
	b := make(passport.Bindings, len(data))
	for k := range data {
		if v := str(data, k); v != "" {
			b[k] = v
		}
	}
	return b, nil
}

// str reads a string field, trimming the trailing newline that "vault kv
// put key=@file" keeps from files written by editors.
func str(data map[string]any, key string) string {
	s, _ := data[key].(string)
	return strings.TrimRight(s, "\r\n")
}

var _ passport.Store = (*Store)(nil)
