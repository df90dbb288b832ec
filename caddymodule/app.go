// Package caddymodule is widgetgate's Caddy glue: the "widgetgate" app that
// holds long-lived state (widget catalogue, Vault client, token cache,
// outbound transport) and the thin "http.handlers.widgetgate" handler that
// serves widget calls with it. The logic lives in plain packages under
// internal/, which know nothing of Caddy.
package caddymodule

import (
	"cmp"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/widgetgate/widgetgate/caddymodule/internal/contextkeys"
	"github.com/widgetgate/widgetgate/caddymodule/internal/egress"
	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
	"github.com/widgetgate/widgetgate/caddymodule/internal/metrics"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/caddymodule/internal/webhook"
	"github.com/widgetgate/widgetgate/caddymodule/internal/widgetcontext"
	"github.com/widgetgate/widgetgate/caddymodule/internal/widgetdir"
	"github.com/widgetgate/widgetgate/callerctx"
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
	// old one serving). While the config serves, the folder is watched: a
	// package added, changed or removed is reloaded and swapped in, and
	// one that fails validation keeps its previous version serving (its
	// problems are logged and shown on the operator page).
	WidgetsDir string `json:"widgets_dir,omitempty"`

	// WidgetsPollInterval rescans the widgets folder this often besides
	// watching it. Change events do not cross hosts on a shared volume
	// (NFS, SMB, most Kubernetes ReadWriteMany volumes), so replicas that
	// share one see each other's uploads by polling. Default 30s; the
	// rescan only compares file sizes and times.
	WidgetsPollInterval caddy.Duration `json:"widgets_poll_interval,omitempty"`

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

	// CacheMaxInstances bounds the instances whose bindings are kept in
	// memory, least recently used out first; "not bound" answers are kept
	// apart, up to as many again, so unknown instance ids cannot push out
	// real ones. Default 10000.
	CacheMaxInstances int `json:"cache_max_instances,omitempty"`

	// CacheMaxPassports bounds the passports kept in memory (and, apart,
	// as many "not found" answers). Default 10000.
	CacheMaxPassports int `json:"cache_max_passports,omitempty"`

	// StaticBindings bind passports without Vault bindings, for
	// single-tenant setups: instance id → authKey → passport id. The
	// instance "*" applies to every instance and to calls that name none.
	// They take precedence over bindings stored in Vault.
	StaticBindings map[string]map[string]string `json:"static_bindings,omitempty"`

	// Upstream tunes the client that calls providers.
	Upstream UpstreamConfig `json:"upstream,omitempty"`

	// Refresh tunes how passports' tokens are kept fresh.
	Refresh RefreshConfig `json:"refresh,omitempty"`

	// Webhooks are told when a passport needs reconnecting and when it
	// works again.
	Webhooks *WebhooksConfig `json:"webhooks,omitempty"`

	// ContextKeys are the keys that verify signed caller contexts
	// (handlers with caller_context signed).
	ContextKeys ContextKeysConfig `json:"context_keys,omitempty"`

	// ResponseCache caches GET APIs' answers per passport (off by
	// default). Identical calls in flight are coalesced either way.
	ResponseCache ResponseCacheConfig `json:"response_cache,omitempty"`

	// RateLimits keeps calls within providers' limits: cool-downs after a
	// rate-limit answer and a concurrency budget per passport.
	RateLimits RateLimitsConfig `json:"rate_limits,omitempty"`

	// The long-lived parts, shared with the apps of earlier and later
	// configs whose settings for them are the same (see state.go).
	state     *state
	stateKey  string
	verifier  *callerctx.Verifier
	refresher *refresh.Refresher
	store     *vaultstore.Store
	cache     *passport.Cache
	configs   *widgetcontext.Cache
	fanout    *fanout.Stage
	fanoutObs fanout.Observer // this config's metrics

	widgets *widgetdir.Dir
	// registry is the provider registry: the built-ins and the passports
	// bundled in the widgets serving now. Replaced when a package changes.
	// (Pointers: Caddy copies an App value to read its module info.)
	registry *atomic.Pointer[map[string]*provider.Provider]
	started  *atomic.Bool // Start ran: changes reach the shared state
	client   *upstream.Client
	notifier *webhook.Notifier // nil without webhooks
	bg       context.Context   // the app's own: ends when it is cleaned up
	logger   *zap.Logger
}

// VaultConfig says how to reach Vault. The sidecar logs in with AppRole or
// Kubernetes when configured; otherwise its token comes from TokenFile,
// Token, or the VAULT_TOKEN environment variable.
type VaultConfig struct {
	// Address of the Vault server; default VAULT_ADDR, then https://127.0.0.1:8200.
	Address string `json:"address,omitempty"`
	// Namespace (Vault Enterprise / HCP).
	Namespace string `json:"namespace,omitempty"`
	// Token to authenticate with. Prefer TokenFile or VAULT_TOKEN: a token
	// in a config file ends up in backups and in Caddy's admin API.
	Token string `json:"token,omitempty"`
	// TokenFile is read for the token, e.g. the sink Vault Agent keeps
	// fresh. It is re-read when it changes and when Vault answers 403.
	TokenFile string `json:"token_file,omitempty"`
	// AppRole logs the sidecar in with a role id and secret id.
	AppRole *AppRoleConfig `json:"approle,omitempty"`
	// Kubernetes logs the sidecar in with its service account token.
	Kubernetes *KubernetesConfig `json:"kubernetes,omitempty"`
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
	// MaxConnections bounds the connections to Vault, kept alive and
	// reused, and the cache's Vault reads at once: calls that need a read
	// beyond it wait their turn. Default 32.
	MaxConnections int `json:"max_connections,omitempty"`
}

// ContextKeysConfig says which keys verify signed caller contexts.
type ContextKeysConfig struct {
	// HMACVault reads HS256 secrets from Vault, <prefix>/context-keys,
	// fields "current" and (during a rotation) "previous"; re-read every
	// cache_ttl, so a rotation needs no reload.
	HMACVault bool `json:"hmac_vault,omitempty"`
	// PublicKeyFiles are PEM public keys (Ed25519 or P-256) of hosts that
	// sign with EdDSA or ES256 and should not hold a shared secret.
	PublicKeyFiles []string `json:"public_key_files,omitempty"`
}

// contextKeysConfigured reports whether any context key source is set.
func (a *App) contextKeysConfigured() bool {
	return a.ContextKeys.HMACVault || len(a.ContextKeys.PublicKeyFiles) > 0
}

// AppRoleConfig is Vault AppRole login. The token it gets is renewed while
// it can be, and the sidecar logs in again when it reaches its max TTL.
type AppRoleConfig struct {
	// Mount of the approle auth method. Default "approle".
	Mount string `json:"mount,omitempty"`
	// RoleID, or RoleIDFile holding it.
	RoleID     string `json:"role_id,omitempty"`
	RoleIDFile string `json:"role_id_file,omitempty"`
	// SecretIDFile holds the secret id, read at each login.
	SecretIDFile string `json:"secret_id_file,omitempty"`
	// SecretIDWrapped: the file holds a response-wrapping token to unwrap
	// for the secret id.
	SecretIDWrapped bool `json:"secret_id_wrapped,omitempty"`
}

// KubernetesConfig is Vault Kubernetes login.
type KubernetesConfig struct {
	// Mount of the kubernetes auth method. Default "kubernetes".
	Mount string `json:"mount,omitempty"`
	// Role to log in as.
	Role string `json:"role,omitempty"`
	// TokenFile is the service account token, re-read at each login.
	// Default /var/run/secrets/kubernetes.io/serviceaccount/token.
	TokenFile string `json:"token_file,omitempty"`
}

// auth turns the config into the Vault login settings.
func (v *VaultConfig) auth() vaultstore.AuthConfig {
	a := vaultstore.AuthConfig{Token: v.Token, TokenFile: v.TokenFile}
	if v.AppRole != nil {
		a.Method = vaultstore.AuthAppRole
		a.AppRoleMount, a.RoleID, a.RoleIDFile = v.AppRole.Mount, v.AppRole.RoleID, v.AppRole.RoleIDFile
		a.SecretIDFile, a.SecretIDWrapped = v.AppRole.SecretIDFile, v.AppRole.SecretIDWrapped
	}
	if v.Kubernetes != nil {
		a.Method = vaultstore.AuthKubernetes
		a.KubernetesMount, a.KubernetesRole, a.ServiceAccountTokenFile = v.Kubernetes.Mount, v.Kubernetes.Role, v.Kubernetes.TokenFile
	}
	return a
}

// WebhooksConfig sends operators an event when a passport becomes
// reconnect_required (the provider refused its refresh token) and when it
// is active again: a POST of JSON {id, type, passport, provider, time,
// reason}, signed in the Widgetgate-Signature header (t=<unix>,v1=<hex
// HMAC-SHA256 of "<t>.<body>">) with the key at <prefix>/webhook, field
// signing_key. In a fleet, the replica that made the change sends it, so
// each transition is sent once.
type WebhooksConfig struct {
	// URLs each receive every event; a URL that fails is retried with
	// backoff without holding up the others.
	URLs []string `json:"urls,omitempty"`
	// RetryFor is how long an event is retried at a URL that fails.
	// Default 10m.
	RetryFor caddy.Duration `json:"retry_for,omitempty"`
}

// RefreshConfig tunes token refresh. Client credentials of built-in
// providers are read from Vault (<prefix>/providers/<name>), never from
// the config.
type RefreshConfig struct {
	// Disabled turns off refreshing: tokens are used until they expire.
	// For setups where another system keeps Vault's tokens fresh.
	Disabled bool `json:"disabled,omitempty"`
	// ScanInterval is how often the background refresher looks for
	// passports due for refresh (±20 % jitter). Default 1m.
	ScanInterval caddy.Duration `json:"scan_interval,omitempty"`
	// Concurrency bounds background refreshes running at once. Default 4.
	Concurrency int `json:"concurrency,omitempty"`
	// LeaseTTL is how long a replica's refresh lease lasts unless renewed. Default 15s.
	LeaseTTL caddy.Duration `json:"lease_ttl,omitempty"`
	// TokenTimeout bounds reaching a token endpoint: connecting and
	// sending the refresh request. Default 10s.
	TokenTimeout caddy.Duration `json:"token_timeout,omitempty"`
	// AnswerTimeout bounds waiting for the token endpoint's answer once a
	// refresh request is sent. Generous on purpose: a provider that
	// rotates refresh tokens has already spent the old one, and an answer
	// given up on leaves the passport needing a reconnect. Reloads and
	// shutdown wait for it too (shutdown at most this long). Default 2m.
	AnswerTimeout caddy.Duration `json:"answer_timeout,omitempty"`
	// DefaultLifetime is given to tokens whose response has no expires_in. Default 1h.
	DefaultLifetime caddy.Duration `json:"default_lifetime,omitempty"`
	// ReconnectBackoff: after a provider refuses a refresh token
	// (invalid_grant), it is not asked again for this long. Default 15m.
	ReconnectBackoff caddy.Duration `json:"reconnect_backoff,omitempty"`
	// ForcedInterval is the least time between two refreshes forced by a
	// provider refusing (401) a token that has not expired, per passport
	// and across replicas (it is counted from the refresh time stored in
	// Vault). A 401 within it goes to the widget as the provider sent it.
	// Default 1m.
	ForcedInterval caddy.Duration `json:"forced_interval,omitempty"`
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
	// EgressAllow lists what providers may be reached despite being
	// loopback, private, link-local or otherwise special-purpose: CIDRs
	// ("10.1.0.0/16", "127.0.0.1/32") and host names or IP literals as
	// written in schema URLs ("127.0.0.1", "api.internal"). Everything
	// else is checked at connect time on the resolved address. IP literal
	// hosts in schemas are refused unless listed here.
	EgressAllow []string `json:"egress_allow,omitempty"`
	// Compression asks providers for gzip-compressed answers
	// (Accept-Encoding: gzip) to save bandwidth. Off by default: calls
	// ask for identity, whatever a schema's headers say. Either way a
	// compressed answer (gzip or deflate) is decoded before the token is
	// masked in it, and any other encoding is refused with 502.
	Compression bool `json:"compression,omitempty"`
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

func (a *App) provision(ctx caddy.Context, logger *zap.Logger) error {
	a.logger = logger
	if a.WidgetsDir == "" {
		return fmt.Errorf("widgets_dir is required")
	}
	policy, err := egress.ParsePolicy(a.Upstream.EgressAllow)
	if err != nil {
		return err
	}

	publicKeys, keyFiles, err := callerctx.ReadPublicKeyFiles(a.ContextKeys.PublicKeyFiles)
	if err != nil {
		return fmt.Errorf("context_keys: %w", err)
	}
	roots, rootsPEM, err := upstream.ReadRoots(a.Upstream.CACert)
	if err != nil {
		return fmt.Errorf("upstream ca_cert: %w", err)
	}
	a.bg = ctx

	// Everything the long-lived state is built from: the same settings
	// on a reload keep the same state.
	key, err := stateKey(struct {
		Vault            VaultConfig
		CacheTTL, Skew   caddy.Duration
		Static           map[string]map[string]string
		MaxInst, MaxPass int
		Refresh          RefreshConfig
		ContextKeys      ContextKeysConfig
		KeyFiles         [][]byte
		Egress           []string
		RootsPEM         []byte
		DialTimeout      caddy.Duration
	}{a.Vault, a.CacheTTL, a.TokenExpirySkew, a.StaticBindings, a.CacheMaxInstances, a.CacheMaxPassports,
		a.Refresh, a.ContextKeys, keyFiles, a.Upstream.EgressAllow, rootsPEM, a.Upstream.DialTimeout})
	if err != nil {
		return err
	}
	val, _, err := states.LoadOrNew(key, func() (caddy.Destructor, error) {
		return a.newState(policy, roots, publicKeys)
	})
	if err != nil {
		return err
	}
	a.state, a.stateKey = val.(*state), key
	a.store, a.cache, a.refresher, a.verifier = a.state.store, a.state.cache, a.state.refresher, a.state.verifier
	a.fanout, a.configs = a.state.fanout, a.state.configs
	// The registry checks bundled passports' Vault references against the
	// store, so the widgets load once it is there.
	a.registry, a.started = new(atomic.Pointer[map[string]*provider.Provider]), new(atomic.Bool)
	a.widgets, err = widgetdir.Open(a.WidgetsDir, widgetdir.Options{
		Schema:  schema.Options{AllowHTTP: a.AllowHTTPUpstreams, AllowIPHost: policy.AllowedLiteral},
		Accept:  func(c *schema.Catalog) error { _, err := a.buildRegistry(c); return err },
		Changed: a.widgetsChanged,
		Logger:  slog.New(zapslog.NewHandler(a.logger.Core())),
	})
	if err != nil {
		return fmt.Errorf("loading widgets from %s: %w", a.WidgetsDir, err)
	}
	reg, err := a.buildRegistry(a.widgets.Catalog())
	if err != nil {
		return err
	}
	a.registry.Store(&reg)
	if err := metrics.RegisterCache(ctx.GetMetricsRegistry(), a.cache); err != nil {
		return err
	}
	if a.fanoutObs, err = metrics.NewFanout(ctx.GetMetricsRegistry(), a.fanout); err != nil {
		return err
	}
	a.checkFanout()

	a.client = upstream.NewClient(upstream.Config{
		DialTimeout:           time.Duration(a.Upstream.DialTimeout),
		ResponseHeaderTimeout: time.Duration(a.Upstream.ResponseHeaderTimeout),
		Timeout:               time.Duration(a.Upstream.Timeout),
		IdleTimeout:           time.Duration(a.Upstream.IdleTimeout),
		MaxIdleConnsPerHost:   a.Upstream.MaxIdleConnsPerHost,
		RootCAs:               roots,
		Egress:                policy,
		Compression:           a.Upstream.Compression,
	})
	if a.Webhooks != nil && len(a.Webhooks.URLs) > 0 {
		a.notifier, err = webhook.New(webhook.Config{
			URLs: a.Webhooks.URLs, Key: a.store.WebhookKey, RetryFor: time.Duration(a.Webhooks.RetryFor),
			Logger: slog.New(zapslog.NewHandler(a.logger.Core())),
		})
		if err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
	}
	a.logger.Info("widgets loaded", zap.String("dir", a.WidgetsDir), zap.Int("widgets", a.widgets.Len()))
	return nil
}

// newState builds the long-lived state from a's settings. It does no
// network I/O (Caddy also provisions for "caddy validate").
func (a *App) newState(policy egress.Policy, roots *x509.CertPool, publicKeys []crypto.PublicKey) (*state, error) {
	store, err := vaultstore.New(vaultstore.Config{
		Address: a.Vault.Address, Namespace: a.Vault.Namespace, Auth: a.Vault.auth(),
		CACert: a.Vault.CACert, TLSServerName: a.Vault.TLSServerName,
		Mount: a.Vault.Mount, Prefix: a.Vault.Prefix, Timeout: time.Duration(a.Vault.Timeout),
		MaxConnections: a.Vault.MaxConnections, Logger: slog.New(zapslog.NewHandler(a.logger.Core())),
	})
	if err != nil {
		return nil, err
	}
	static, err := vaultstore.StaticBindings(a.StaticBindings)
	if err != nil {
		return nil, err
	}
	skew := time.Duration(a.TokenExpirySkew)
	if skew <= 0 {
		skew = passport.DefaultSkew
	}
	slogger := slog.New(zapslog.NewHandler(a.logger.Core()))
	ctx, cancel := context.WithCancel(context.Background())
	s := &state{store: store, verifier: callerctx.NewVerifier(nil), publicKeys: publicKeys, ctx: ctx, cancel: cancel, logger: slogger,
		fanout: fanout.New(fanout.Config{}, nil)}
	s.verifier.SetKeys(callerctx.Keys{Public: publicKeys})
	cacheCfg := passport.CacheConfig{
		TTL:            time.Duration(a.CacheTTL),
		Skew:           skew,
		StaticBindings: static,
		Logger:         slogger,
		MaxInstances:   a.CacheMaxInstances, MaxPassports: a.CacheMaxPassports,
		// As many reads at once as connections to Vault, so a flood of
		// unknown ids waits here, bounded by each caller's context.
		MaxConcurrentReads: a.Vault.MaxConnections,
		// A passport disconnected, reconnected or needing reconnection
		// must not be answered for from what it fetched before.
		Changed: s.fanout.Forget,
	}
	if !a.Refresh.Disabled {
		s.refresher = refresh.New(ctx, store, s.provider, refresh.Config{
			LeaseTTL:         time.Duration(a.Refresh.LeaseTTL),
			TokenTimeout:     time.Duration(a.Refresh.TokenTimeout),
			AnswerTimeout:    time.Duration(a.Refresh.AnswerTimeout),
			DefaultLifetime:  time.Duration(a.Refresh.DefaultLifetime),
			ReconnectBackoff: time.Duration(a.Refresh.ReconnectBackoff),
			ForcedInterval:   time.Duration(a.Refresh.ForcedInterval),
			Skew:             skew,
			Logger:           slogger,
			// Token, profile and revocation requests go to providers too:
			// the same egress policy and CAs as calls.
			Dial:    policy.DialContext(cmp.Or(time.Duration(a.Upstream.DialTimeout), upstream.DefaultDialTimeout), 30*time.Second),
			RootCAs: roots,
			// The cache is built just below; refreshes only start later.
			Refreshed:      func(p *passport.Passport) { s.cache.Update(p) },
			OnStatusChange: s.statusChanged,
		})
		cacheCfg.Refresh = s.refresher.Refresh
	}
	s.cache = passport.NewCache(ctx, store, cacheCfg)
	s.configs = widgetcontext.NewCache(store, cmp.Or(time.Duration(a.CacheTTL), passport.DefaultTTL), 0, nil)
	return s, nil
}

// canRefresh reports whether a refused token is worth a forced refresh.
func (a *App) canRefresh(p *passport.Passport) bool {
	if a.refresher == nil || p.RefreshToken == "" {
		return false
	}
	prov, ok := a.provider(p.Provider)
	return ok && prov.Refresh.Type != provider.RefreshNone
}

// Validate checks the config for mistakes Provision does not catch.
func (a *App) Validate() error {
	if err := a.validateFanout(); err != nil {
		return err
	}
	_, err := vaultstore.StaticBindings(a.StaticBindings)
	return err
}

// Start starts the background work: importing client secrets found in
// widget packages into Vault, and the refresher. Neither blocks: Vault may
// be down when Caddy starts, and calls must still be served from cache.
func (a *App) Start() error {
	// From now on this config serves: refreshes see its providers, and
	// the fan-out stage its policy.
	a.state.providers.Store(a.registry.Load())
	a.started.Store(true)
	a.state.notifier.Store(a.notifier)
	a.state.fanout.SetConfig(a.fanoutConfig(a.fanoutObs))
	var err error
	a.state.start.Do(func() { err = a.state.run(a) })
	if err != nil {
		return err
	}
	go a.importSecrets(*a.registry.Load())
	go a.notifier.Run(a.bg)
	go a.widgets.Watch(a.bg, widgetdir.WatchOptions{Poll: cmp.Or(time.Duration(a.WidgetsPollInterval), 30*time.Second)})
	return nil
}

// run starts the state's background work, once for its life: Vault login,
// the context-key watcher and the refresher's scan, on the state's context.
func (s *state) run(a *App) error {
	if err := s.store.Start(s.ctx); err != nil {
		return fmt.Errorf("vault login: %w", err)
	}
	if a.ContextKeys.HMACVault {
		every := cmp.Or(time.Duration(a.CacheTTL), passport.DefaultTTL) // as often as the cache re-reads
		go contextkeys.Watch(s.ctx, s.store.ContextKeys, s.verifier, s.publicKeys, every, s.logger)
	}
	if s.refresher != nil {
		go s.refresher.Run(s.ctx, time.Duration(a.Refresh.ScanInterval), a.Refresh.Concurrency, s.cache.Current)
	}
	return nil
}

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup drops idle provider connections and lets go of the long-lived
// state: it runs on the old app after a reload, once the new one serves,
// and at shutdown. The state ends (state.Destruct) only when no app uses
// it any more.
func (a *App) Cleanup() error {
	if a.client != nil {
		a.client.Close()
	}
	if a.stateKey != "" {
		if _, err := states.Delete(a.stateKey); err != nil {
			return err
		}
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
