package caddymodule

import (
	"context"
	"path"

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

// putCredentials stores credentials found in a widget package
// (provider.ImportSecrets), never over the operator's.
func (a *App) putCredentials(ctx context.Context, name, clientID, clientSecret string) (bool, error) {
	return a.store.PutProviderCredentials(ctx, name, vaultstore.Credentials{ClientID: clientID, ClientSecret: clientSecret})
}
