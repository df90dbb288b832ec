package vaultstore

import (
	"context"
	"errors"
	"fmt"

	vault "github.com/hashicorp/vault/api"
)

// kubernetes is the kubernetes method: a login at auth/<mount>/login with
// the pod's service account token, read at each login because Kubernetes
// rotates projected tokens.
type kubernetes struct {
	client  clientFunc
	path    string // auth/<mount>/login
	role    string
	jwtFile string
}

func checkKubernetes(cfg *AuthConfig) error {
	if cfg.KubernetesRole == "" {
		return errors.New("vault auth method kubernetes needs kubernetes_role")
	}
	if cfg.KubernetesMount == "" {
		cfg.KubernetesMount = "kubernetes"
	}
	if cfg.ServiceAccountTokenFile == "" {
		cfg.ServiceAccountTokenFile = DefaultServiceAccountTokenFile
	}
	return nil
}

func newKubernetes(cfg AuthConfig, client clientFunc) loginMethod {
	return &kubernetes{
		client:  client,
		path:    "auth/" + cfg.KubernetesMount + "/login",
		role:    cfg.KubernetesRole,
		jwtFile: cfg.ServiceAccountTokenFile,
	}
}

func (m *kubernetes) name() AuthMethod { return AuthKubernetes }

func (m *kubernetes) renewal() renewal { return renewLease }

// token logs in.
func (m *kubernetes) token(ctx context.Context, _ bool) (*vault.Secret, error) {
	lc, err := m.client()
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("vault kubernetes login (%s, role %q)", m.path, m.role)
	jwt, err := readSecretFile(m.jwtFile, "service account token")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return writeLogin(ctx, lc, m.path, what, map[string]any{"role": m.role, "jwt": jwt}, jwt)
}

// rejected is not called for a method that logs in: Relogin replaces a
// rejected token with a new login.
func (m *kubernetes) rejected(err error) error { return err }

var _ loginMethod = (*kubernetes)(nil)
