package caddymodule

import (
	"context"
	"path"
	"time"

	"go.uber.org/zap"

	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// loadProviders builds the provider registry from the built-in providers
// and the passports bundled in the loaded widget packages.
func (a *App) loadProviders() error {
	var bundles []provider.Bundle
	for _, id := range a.catalog.IDs() {
		if w, _ := a.catalog.Widget(id); w.Bundled != nil {
			bundles = append(bundles, provider.Bundle{File: path.Join(w.Source, w.Bundled.Path), Raw: w.Bundled.Raw})
		}
	}
	var err error
	a.providers, err = provider.Registry(bundles, a.store.CheckProviderRef)
	return err
}

// provider looks up a passport's provider.
func (a *App) provider(name string) (*provider.Provider, bool) {
	p, ok := a.providers[name]
	return p, ok
}

// importBundledSecrets moves client secrets written in widget packages into
// Vault (<prefix>/providers/<name>), unless the operator already stored
// some, and warns: a secret in a ZIP is a secret in every copy of that ZIP.
func (a *App) importBundledSecrets() {
	for _, p := range a.providers {
		if p.ClientSecret == "" {
			continue
		}
		a.logger.Warn("a widget package contains an OAuth client secret; store it in Vault and use a vault: reference instead",
			zap.String("provider", p.Name), zap.String("file", p.Source))
		ctx, cancel := context.WithTimeout(a.bg, 10*time.Second)
		created, err := a.store.PutProviderCredentials(ctx, p.Name, vaultstore.Credentials{ClientID: p.ClientID, ClientSecret: p.ClientSecret})
		cancel()
		switch {
		case err != nil:
			a.logger.Error("could not import the bundled client secret into Vault; using it from the package", zap.String("provider", p.Name), zap.Error(err))
		case created:
			a.logger.Warn("imported the bundled client secret into Vault", zap.String("provider", p.Name))
		}
	}
}
