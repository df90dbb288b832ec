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
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// Config says how to reach Vault and where the data lives.
type Config struct {
	Address       string
	Namespace     string
	Token         string // literal token; used when TokenFile is empty
	TokenFile     string // e.g. the sink file Vault Agent keeps fresh
	CACert        string
	TLSServerName string
	Mount         string // KV v2 mount, default "secret"
	Prefix        string // path prefix inside the mount, default "widgetgate"
	Timeout       time.Duration
}

// Store reads widgetgate's data from Vault. It is safe for concurrent use.
type Store struct {
	client    *vault.Client
	kv        *vault.KVv2
	prefix    string
	tokenFile string
	tokenMu   sync.Mutex
}

// ErrUnavailable wraps every failure to get an answer from Vault.
var ErrUnavailable = errors.New("vault unavailable")

// idPattern keeps ids to a plain alphabet: they become Vault paths, and a
// '/' or '..' in one would address another secret.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`)

// ValidID reports whether s can name a passport or an instance.
func ValidID(s string) bool { return idPattern.MatchString(s) && !strings.Contains(s, "..") }

// New builds a Store. It does no network I/O, so it is safe in a Caddy
// Provision that also runs on "caddy validate"; it reads TokenFile.
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
	client, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", vc.Address, err)
	}
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	}
	s := &Store{client: client, tokenFile: cfg.TokenFile}
	// A token file is read on first use, not here: "caddy validate" may run
	// where Vault Agent's sink does not exist. Without either, the client
	// has taken VAULT_TOKEN from the environment.
	switch {
	case cfg.TokenFile != "":
		client.ClearToken() // the file wins over VAULT_TOKEN
	case cfg.Token != "":
		client.SetToken(strings.TrimSpace(cfg.Token))
	}
	if cfg.Mount == "" {
		cfg.Mount = "secret"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "widgetgate"
	}
	s.kv = client.KVv2(strings.Trim(cfg.Mount, "/"))
	s.prefix = strings.Trim(cfg.Prefix, "/")
	return s, nil
}

// Client returns the underlying Vault client, for writers added later.
func (s *Store) Client() *vault.Client { return s.client }

func (s *Store) loadTokenFile() error {
	b, err := os.ReadFile(s.tokenFile)
	if err != nil {
		return fmt.Errorf("reading vault token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return fmt.Errorf("vault token file %s is empty", s.tokenFile)
	}
	s.client.SetToken(tok)
	return nil
}

// get reads one KV v2 secret. A 403 with a token file re-reads the file
// once and retries: Vault Agent rewrites it when it renews our token.
func (s *Store) get(ctx context.Context, path string) (map[string]any, error) {
	if s.tokenFile != "" && s.client.Token() == "" {
		s.tokenMu.Lock()
		err := s.loadTokenFile()
		s.tokenMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	sec, err := s.kv.Get(ctx, path)
	if err != nil && s.tokenFile != "" && isForbidden(err) {
		s.tokenMu.Lock()
		reloadErr := s.loadTokenFile()
		s.tokenMu.Unlock()
		if reloadErr == nil {
			sec, err = s.kv.Get(ctx, path)
		}
	}
	switch {
	case errors.Is(err, vault.ErrSecretNotFound):
		return nil, passport.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("%w: reading %s: %s", ErrUnavailable, path, describe(err))
	case sec == nil || sec.Data == nil:
		return nil, passport.ErrNotFound
	}
	return sec.Data, nil
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
	if !ValidID(id) {
		return nil, passport.ErrNotFound
	}
	data, err := s.get(ctx, s.prefix+"/passports/"+id)
	if err != nil {
		return nil, err
	}
	p := &passport.Passport{
		ID:           id,
		Provider:     str(data, "provider"),
		Status:       str(data, "status"),
		AccessToken:  str(data, "access_token"),
		TokenType:    str(data, "token_type"),
		RefreshToken: str(data, "refresh_token"),
	}
	if exp := str(data, "expiry"); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			// Never guess a lifetime: a passport with an unreadable expiry
			// is reported as such rather than used forever.
			return nil, fmt.Errorf("%w: passport %s: expiry %q is not RFC 3339", passport.ErrMalformed, id, exp)
		}
		p.Expiry = t
	}
	return p, nil
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
