package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// NewVaultSysClient is a token-less Vault client with the store's
// address and TLS settings, for sys/health, which needs no token: it tells
// "Vault cannot be reached" from "Vault refuses us" when a read fails.
func NewVaultSysClient(address, caCert, tlsServerName string) (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client defaults: %w", cfg.Error)
	}
	if address != "" {
		cfg.Address = address
	}
	cfg.MaxRetries = 0
	if caCert != "" || tlsServerName != "" {
		if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: caCert, TLSServerName: tlsServerName}); err != nil {
			return nil, fmt.Errorf("vault TLS config (ca_cert %q): %w", caCert, err)
		}
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.ClearToken()
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	return c, nil
}

// VaultCheck is the vault check: a read through the store, as calls make
// them, then sys/health to say why when it fails. Its reasons are fixed
// words; the store's error goes to the log only (once per failure spell).
type VaultCheck struct {
	// Read reads from Vault as calls do; passport.ErrNotFound counts as
	// an answer.
	Read    func(ctx context.Context) error
	Sys     *vault.Client // token-less (NewVaultSysClient)
	Timeout time.Duration // for the reason's words only
	Logger  *slog.Logger
	failing atomic.Bool
}

// Run runs the check.
func (v *VaultCheck) Run(ctx context.Context) Result {
	err := v.Read(ctx)
	if err == nil || errors.Is(err, passport.ErrNotFound) {
		if v.failing.Swap(false) {
			v.Logger.Info("readiness: Vault answers again")
		}
		return OK("Vault answers and accepts widgetgate's token")
	}
	if !v.failing.Swap(true) {
		v.Logger.Warn("readiness: reading from Vault failed", "error", err)
	}
	if ctx.Err() != nil {
		return Fail("Vault did not answer within " + v.Timeout.String())
	}
	st, herr := v.Sys.Sys().HealthWithContext(ctx)
	switch {
	case herr != nil && ctx.Err() != nil:
		return Fail("Vault did not answer within " + v.Timeout.String())
	case herr != nil:
		return Fail("Vault cannot be reached")
	case !st.Initialized:
		return Fail("Vault is not initialized")
	case st.Sealed:
		return Fail("Vault is sealed")
	}
	return Fail("Vault answers but refuses widgetgate's reads: its token is missing, expired or revoked, or its policy does not allow them (see the log)")
}

// Widgets is the widgets check's result: loaded packages, of which
// refused were refused by the last load. A refused package does not make
// the replica unready: its previous version, or every other widget,
// serves. An empty catalogue counts as loaded: a replica with no packages
// yet must stay reachable to receive them.
func Widgets(loaded bool, packages, refused int) Result {
	if !loaded {
		return Fail("the widget catalogue is not loaded")
	}
	msg := fmt.Sprintf("%d widget packages loaded", packages)
	if refused > 0 {
		msg += fmt.Sprintf("; %d refused (see the operator page)", refused)
	}
	return OK(msg)
}

// ContextKeys is the context_keys check's result. HMAC secrets come from
// Vault in the background (contextkeys.Watch); public keys are loaded with
// the config, so with public keys the verifier always has keys, and HMAC
// secrets loading late cannot be told apart: the reason says so.
func ContextKeys(hmacVault, publicKeys, loaded bool) Result {
	switch {
	case !loaded && hmacVault:
		return Fail("the caller-context secrets have not been loaded from Vault yet (context-keys under the prefix)")
	case !loaded:
		return Fail("no caller-context key is loaded")
	case hmacVault && publicKeys:
		return OK("caller-context public keys loaded; the HMAC secrets from Vault are not checked separately")
	}
	return OK("caller-context keys loaded")
}
