// Package caddymodule is widgetgate's Caddy glue: the "widgetgate" app that
// holds long-lived state (widget catalogue, Vault client, token cache,
// outbound transport) and the thin "http.handlers.widgetgate" handler that
// serves widget calls with it. The logic lives in plain packages under
// internal/, which know nothing of Caddy.
package caddymodule

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the widgetgate app. Configure it once per Caddy instance (the
// Caddyfile's global "widgetgate" option); every widgetgate handler uses it.
type App struct {
	// WidgetsDir is the folder of widget packages: each sub-folder or .zip
	// (widget.html, schema.json, optional passport/*.json) is one widget,
	// whose id is the folder or zip name. Loaded and validated when the
	// config loads; a bad package fails the config (and a reload keeps the
	// old one serving).
	WidgetsDir string `json:"widgets_dir,omitempty"`

	// AllowHTTPUpstreams lets schemas call plain-http URLs. Off by default:
	// tokens must not cross a network in clear text. Turn it on only for
	// tests and loopback services.
	AllowHTTPUpstreams bool `json:"allow_http_upstreams,omitempty"`

	// Vault says where passports and bindings live.
	Vault VaultConfig `json:"vault,omitempty"`

	// CacheTTL is how long a binding or passport read from Vault is served
	// from memory before it is re-read in the background. Changes made in
	// Vault take effect within this time. Default 30s.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	// TokenExpirySkew treats a token as expired this long before its
	// expiry, so it is never sent in its last moments. Default 30s.
	TokenExpirySkew caddy.Duration `json:"token_expiry_skew,omitempty"`

	// StaticBindings bind passports without Vault bindings, for
	// single-tenant setups: instance id → authKey → passport id. The
	// instance "*" applies to every instance and to calls that name none.
	// They take precedence over bindings stored in Vault.
	StaticBindings map[string]map[string]string `json:"static_bindings,omitempty"`

	// Upstream tunes the client that calls providers.
	Upstream UpstreamConfig `json:"upstream,omitempty"`

	catalog *schema.Catalog
	store   *vaultstore.Store
	cache   *passport.Cache
	client  *upstream.Client
	cancel  context.CancelFunc
	logger  *zap.Logger
}

// VaultConfig says how to reach Vault. The token comes, in this order, from
// TokenFile, Token, or the VAULT_TOKEN environment variable.
type VaultConfig struct {
	// Address of the Vault server; default VAULT_ADDR, then https://127.0.0.1:8200.
	Address string `json:"address,omitempty"`
	// Namespace (Vault Enterprise / HCP).
	Namespace string `json:"namespace,omitempty"`
	// Token to authenticate with. Prefer TokenFile or VAULT_TOKEN: a token
	// in a config file ends up in backups and in Caddy's admin API.
	Token string `json:"token,omitempty"`
	// TokenFile is read for the token, e.g. the sink Vault Agent keeps
	// fresh. It is re-read when Vault answers 403.
	TokenFile string `json:"token_file,omitempty"`
	// CACert is a PEM file of the CA that signed Vault's certificate.
	CACert string `json:"ca_cert,omitempty"`
	// TLSServerName overrides the name checked in Vault's certificate.
	TLSServerName string `json:"tls_server_name,omitempty"`
	// Mount is the KV version 2 mount. Default "secret".
	Mount string `json:"mount,omitempty"`
	// Prefix is the path inside the mount. Default "widgetgate".
	Prefix string `json:"prefix,omitempty"`
	// Timeout bounds one Vault request. Default 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// UpstreamConfig tunes calls to providers.
type UpstreamConfig struct {
	// DialTimeout bounds connecting to a provider. Default 5s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// ResponseHeaderTimeout bounds waiting for a provider's response headers. Default 30s.
	ResponseHeaderTimeout caddy.Duration `json:"response_header_timeout,omitempty"`
	// Timeout bounds a whole call in envelope mode, and a raw-mode call up
	// to its response headers. Default 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// IdleTimeout bounds how long a raw-mode body may stall before the
	// stream is cut. Default 30s.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`
	// MaxIdleConnsPerHost is the keep-alive pool per provider host. Size
	// it to the concurrency you expect; a pool too small redials under
	// load. Default 256.
	MaxIdleConnsPerHost int `json:"max_idle_conns_per_host,omitempty"`
	// CACert is a PEM file of CAs trusted for providers instead of the
	// system roots (private PKI, tests).
	CACert string `json:"ca_cert,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "widgetgate",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision loads the widget catalogue and builds the Vault client, cache
// and transport. It does file I/O but no network I/O: Caddy also runs it
// for "caddy validate".
func (a *App) Provision(ctx caddy.Context) error {
	return a.provision(ctx, ctx.Logger())
}

func (a *App) provision(_ caddy.Context, logger *zap.Logger) error {
	a.logger = logger
	if a.WidgetsDir == "" {
		return fmt.Errorf("widgets_dir is required")
	}
	catalog, err := schema.LoadDir(a.WidgetsDir, schema.Options{AllowHTTP: a.AllowHTTPUpstreams})
	if err != nil {
		return fmt.Errorf("loading widgets from %s: %w", a.WidgetsDir, err)
	}
	a.catalog = catalog

	a.store, err = vaultstore.New(vaultstore.Config{
		Address: a.Vault.Address, Namespace: a.Vault.Namespace, Token: a.Vault.Token,
		TokenFile: a.Vault.TokenFile, CACert: a.Vault.CACert, TLSServerName: a.Vault.TLSServerName,
		Mount: a.Vault.Mount, Prefix: a.Vault.Prefix, Timeout: time.Duration(a.Vault.Timeout),
	})
	if err != nil {
		return err
	}

	static := make(map[string]passport.Bindings, len(a.StaticBindings))
	for inst, b := range a.StaticBindings {
		static[inst] = passport.Bindings(b)
	}
	skew := time.Duration(a.TokenExpirySkew)
	if skew <= 0 {
		skew = 30 * time.Second
	}
	bg, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.cache = passport.NewCache(bg, a.store, passport.CacheConfig{
		TTL:            time.Duration(a.CacheTTL),
		Skew:           skew,
		StaticBindings: static,
		Logger:         slog.New(zapslog.NewHandler(a.logger.Core())),
	})

	var roots *x509.CertPool
	if a.Upstream.CACert != "" {
		pem, err := os.ReadFile(a.Upstream.CACert)
		if err != nil {
			return fmt.Errorf("upstream ca_cert: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("upstream ca_cert %s: no PEM certificate found", a.Upstream.CACert)
		}
	}
	a.client = upstream.NewClient(upstream.Config{
		DialTimeout:           time.Duration(a.Upstream.DialTimeout),
		ResponseHeaderTimeout: time.Duration(a.Upstream.ResponseHeaderTimeout),
		Timeout:               time.Duration(a.Upstream.Timeout),
		IdleTimeout:           time.Duration(a.Upstream.IdleTimeout),
		MaxIdleConnsPerHost:   a.Upstream.MaxIdleConnsPerHost,
		RootCAs:               roots,
	})
	a.logger.Info("widgets loaded", zap.String("dir", a.WidgetsDir), zap.Int("widgets", catalog.Len()))
	return nil
}

// Validate checks the config for mistakes Provision does not catch.
func (a *App) Validate() error {
	for inst, b := range a.StaticBindings {
		if inst != "*" && !vaultstore.ValidID(inst) {
			return fmt.Errorf("static_bindings: instance id %q is not valid", inst)
		}
		for key, id := range b {
			if !vaultstore.ValidID(id) {
				return fmt.Errorf("static_bindings[%s][%s]: passport id %q is not valid", inst, key, id)
			}
		}
	}
	return nil
}

// Start implements caddy.App. Nothing runs in the background yet.
func (a *App) Start() error { return nil }

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup stops background work and drops idle provider connections. It
// runs on the old app after a reload, once the new one serves.
func (a *App) Cleanup() error {
	if a.cancel != nil {
		a.cancel()
	}
	if a.client != nil {
		a.client.Close()
	}
	return nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
