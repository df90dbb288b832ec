package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// errNoToken is returned for the token method when neither the config nor
// the environment has a token.
var errNoToken = errors.New("vault auth: no Vault token configured (set token, token_file or VAULT_TOKEN, or use approle or kubernetes)")

// staticToken is the token method: a fixed token from the config, else
// from VAULT_TOKEN. It cannot be replaced, only renewed while Vault lets it.
type staticToken struct {
	configured string
}

// checkStaticToken accepts any config: with no token anywhere, Start says
// so (VAULT_TOKEN may be set by then).
func checkStaticToken(*AuthConfig) error { return nil }

func newStaticToken(cfg AuthConfig, _ clientFunc) loginMethod {
	return &staticToken{configured: cfg.Token}
}

func (m *staticToken) name() AuthMethod { return AuthToken }

func (m *staticToken) renewal() renewal { return renewSelf }

// token returns the configured token; it reads no file and asks Vault
// nothing, so NewAuthenticator may call it.
func (m *staticToken) token(context.Context, bool) (*vault.Secret, error) {
	tok := strings.TrimSpace(m.configured)
	if tok == "" {
		tok = strings.TrimSpace(os.Getenv(vault.EnvVaultToken))
	}
	if tok == "" {
		return nil, errNoToken
	}
	return tokenSecret(tok), nil
}

func (m *staticToken) rejected(err error) error {
	return fmt.Errorf("vault auth: the configured token: %w", err)
}

var _ loginMethod = (*staticToken)(nil)
