package caddymodule

import (
	"context"
	"fmt"
	"path"
	"time"

	"go.uber.org/zap"

	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// loadProviders builds the provider registry: the built-in providers plus
// the custom passports bundled in loaded widget packages, validated here
// so that a bad passport file fails the config like a bad schema does.
func (a *App) loadProviders() error {
	a.providers = map[string]*provider.Provider{}
	for _, p := range provider.Builtins() {
		a.providers[p.Name] = p
	}
	for _, id := range a.catalog.IDs() {
		w, _ := a.catalog.Widget(id)
		if w.Bundled == nil {
			continue
		}
		file := path.Join(w.Source, w.Bundled.Path)
		p, err := provider.ParseCustom(file, w.Bundled.Raw)
		if err != nil {
			return err
		}
		if p.ClientSecretRef != "" {
			ref, _, _ := provider.SplitSecretRef(p.ClientSecretRef) // well-formed: ParseCustom checked
			if err := a.store.CheckProviderRef(ref); err != nil {
				return fmt.Errorf("%s: customApplicationInfo.metadata.clientSecret: %w", file, err)
			}
		}
		if prev, dup := a.providers[p.Name]; dup && prev.Source != file {
			if prev.Source == "built-in" || !sameCustom(prev, p) {
				return fmt.Errorf("%s: provider %q is also defined by %s", file, p.Name, prev.Source)
			}
			continue // the same passport bundled in two packages
		}
		a.providers[p.Name] = p
	}
	return nil
}

// sameCustom reports whether two bundled passports define the same
// connection (several widgets of one vendor may ship the same file).
func sameCustom(x, y *provider.Provider) bool {
	return x.TokenURL == y.TokenURL && x.AuthURL == y.AuthURL && x.ClientID == y.ClientID &&
		x.ClientSecret == y.ClientSecret && x.ClientSecretRef == y.ClientSecretRef
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
