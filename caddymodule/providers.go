package caddymodule

import (
	"context"
	"log/slog"
	"path"

	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// buildRegistry builds the provider registry from the built-in providers
// and the passports bundled in the widget packages of c.
func (a *App) buildRegistry(c *schema.Catalog) (map[string]*provider.Provider, error) {
	var bundles []provider.Bundle
	for _, id := range c.IDs() {
		if w, _ := c.Widget(id); w.Bundled != nil {
			bundles = append(bundles, provider.Bundle{File: path.Join(w.Source, w.Bundled.Path), Raw: w.Bundled.Raw})
		}
	}
	return provider.Registry(bundles, a.store.CheckProviderRef)
}

// widgetsChanged takes in a catalogue the widgets folder swapped in: its
// bundled passports become the registry, and, once this config serves,
// the refresher's too.
func (a *App) widgetsChanged(c *schema.Catalog) {
	reg, err := a.buildRegistry(c)
	if err != nil {
		// widgetdir accepted c with the same check; a Vault reference
		// refused since is the only way here.
		a.logger.Error("widget packages changed but their passports do not load; the previous providers stay", zap.Error(err))
		return
	}
	a.registry.Store(&reg)
	if a.started.Load() {
		a.state.providers.Store(&reg)
		go a.importSecrets(reg)
	}
}

// providers returns the provider registry serving now.
func (a *App) providers() map[string]*provider.Provider { return *a.registry.Load() }

// provider looks up a passport's provider.
func (a *App) provider(name string) (*provider.Provider, bool) {
	p, ok := a.providers()[name]
	return p, ok
}

// importSecrets moves client secrets bundled in widget packages into
// Vault (provider.ImportSecrets).
func (a *App) importSecrets(reg map[string]*provider.Provider) {
	provider.ImportSecrets(a.bg, reg, a.putCredentials, slog.New(zapslog.NewHandler(a.logger.Core())))
}

// putCredentials stores credentials found in a widget package
// (provider.ImportSecrets), never over the operator's.
func (a *App) putCredentials(ctx context.Context, name, clientID, clientSecret string) (bool, error) {
	return a.store.PutProviderCredentials(ctx, name, vaultstore.Credentials{ClientID: clientID, ClientSecret: clientSecret})
}
