package vaultstore_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

func TestAuthConfigValidation(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1")
	missing := filepath.Join(t.TempDir(), "does-not-exist")
	bad := []struct {
		name string
		cfg  vaultstore.AuthConfig
		want string
	}{
		{"approle without role id", vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, SecretIDFile: missing}, "role_id"},
		{"approle with both role ids", vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleID: "r", RoleIDFile: missing}, "role_id_file"},
		{"wrapped without a secret id file", vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleID: "r", SecretIDWrapped: true}, "secret_id_file"},
		{"kubernetes without role", vaultstore.AuthConfig{Method: vaultstore.AuthKubernetes}, "kubernetes_role"},
		{"unknown method", vaultstore.AuthConfig{Method: "ldap"}, `"ldap"`},
		{"token and token file", vaultstore.AuthConfig{Token: "t", TokenFile: missing}, "not both"},
		{"token_file without a file", vaultstore.AuthConfig{Method: vaultstore.AuthTokenFile}, "token_file"},
		{"another method's setting", vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleID: "r", Token: "t"}, "token is not used by method approle"},
		{"bad mount", vaultstore.AuthConfig{Method: vaultstore.AuthKubernetes, KubernetesRole: "r", KubernetesMount: "../sys"}, "kubernetes_mount"},
		{"negative interval", vaultstore.AuthConfig{TokenFile: missing, FileCheckInterval: -time.Second}, "file_check_interval"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vaultstore.NewAuthenticator(c, tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}

	// Valid configs pointing at files that do not exist: NewAuthenticator
	// reads no files (it runs on "caddy validate").
	good := []struct {
		cfg  vaultstore.AuthConfig
		want vaultstore.AuthMethod
	}{
		{vaultstore.AuthConfig{}, vaultstore.AuthToken},
		{vaultstore.AuthConfig{Token: "t"}, vaultstore.AuthToken},
		{vaultstore.AuthConfig{TokenFile: missing}, vaultstore.AuthTokenFile},
		{vaultstore.AuthConfig{Method: vaultstore.AuthAppRole, RoleIDFile: missing, SecretIDFile: missing, SecretIDWrapped: true, AppRoleMount: "/team/approle/"}, vaultstore.AuthAppRole},
		{vaultstore.AuthConfig{Method: vaultstore.AuthKubernetes, KubernetesRole: "r", ServiceAccountTokenFile: missing}, vaultstore.AuthKubernetes},
	}
	for _, tc := range good {
		a, err := vaultstore.NewAuthenticator(c, tc.cfg, nil)
		if err != nil {
			t.Errorf("%+v: %v", tc.cfg, err)
			continue
		}
		if a.Method() != tc.want {
			t.Errorf("%+v: method %s, want %s", tc.cfg, a.Method(), tc.want)
		}
	}
}
