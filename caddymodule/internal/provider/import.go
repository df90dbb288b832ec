package provider

import (
	"context"
	"log/slog"
	"time"
)

// PutCredentials stores a provider's client credentials unless some are
// stored already, and reports whether it did
// (vaultstore.Store.PutProviderCredentials).
type PutCredentials func(ctx context.Context, name, clientID, clientSecret string) (created bool, err error)

// ImportSecrets moves client secrets written in bundled passports into
// the secret store, never over credentials the operator stored, and warns
// of each: a secret in a ZIP is a secret in every copy of that ZIP. A
// secret that cannot be stored is used from the package meanwhile.
func ImportSecrets(ctx context.Context, reg map[string]*Provider, put PutCredentials, log *slog.Logger) {
	for _, p := range reg {
		if p.ClientSecret == "" {
			continue
		}
		log.Warn("a widget package contains an OAuth client secret; store it in Vault and use a vault: reference instead",
			"provider", p.Name, "file", p.Source)
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		created, err := put(pctx, p.Name, p.ClientID, p.ClientSecret)
		cancel()
		switch {
		case err != nil:
			log.Error("could not import the bundled client secret into Vault; using it from the package", "provider", p.Name, "error", err)
		case created:
			log.Warn("imported the bundled client secret into Vault", "provider", p.Name)
		}
	}
}
