package vaultstore

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// AuthMethod names how the sidecar authenticates to Vault.
type AuthMethod string

// The supported auth methods.
const (
	// AuthToken uses a fixed token: AuthConfig.Token, else VAULT_TOKEN.
	AuthToken AuthMethod = "token"
	// AuthTokenFile uses the token in a file that something else (usually
	// Vault Agent's file sink) keeps fresh.
	AuthTokenFile AuthMethod = "token_file"
	// AuthAppRole logs in at auth/<mount>/login with a role id and secret id.
	AuthAppRole AuthMethod = "approle"
	// AuthKubernetes logs in at auth/<mount>/login with the pod's service
	// account token.
	AuthKubernetes AuthMethod = "kubernetes"
)

// DefaultServiceAccountTokenFile is where Kubernetes mounts the pod's
// service account token.
const DefaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

const defaultFileCheckInterval = 5 * time.Second

// AuthConfig says how the sidecar logs in to Vault.
type AuthConfig struct {
	// Method picks the auth method. "" means token if Token is set,
	// token_file if TokenFile is set, else the VAULT_TOKEN environment
	// variable.
	Method AuthMethod

	// Token is the literal token for the token method.
	Token string
	// TokenFile is read for the token_file method, typically a Vault Agent
	// sink. It is re-read when its modification time or size changes
	// (checked every FileCheckInterval) and after Vault answers 403.
	TokenFile string

	// AppRoleMount is the AppRole mount path, default "approle".
	AppRoleMount string
	// RoleID is the AppRole role id; set it or RoleIDFile.
	RoleID string
	// RoleIDFile holds the role id; it is read at each login.
	RoleIDFile string
	// SecretIDFile holds the secret id; it is read at each login. It may be
	// empty for roles created with bind_secret_id=false.
	SecretIDFile string
	// SecretIDWrapped says SecretIDFile holds a response-wrapping token
	// whose wrapped response carries the secret id. It is unwrapped with
	// sys/wrapping/unwrap after checking that it was created by
	// auth/<mount>/role/<role>/secret-id. A wrapping token works once, so the
	// unwrapped secret id is kept in memory for later logins until the file
	// changes.
	SecretIDWrapped bool

	// KubernetesMount is the Kubernetes auth mount path, default "kubernetes".
	KubernetesMount string
	// KubernetesRole is the Vault role to log in as.
	KubernetesRole string
	// ServiceAccountTokenFile holds the JWT sent at login, default
	// DefaultServiceAccountTokenFile. It is read at each login because
	// Kubernetes rotates projected tokens.
	ServiceAccountTokenFile string

	// FileCheckInterval is how often TokenFile is checked for changes,
	// default 5s.
	FileCheckInterval time.Duration
}

// methodSpec is how one auth method is configured. check runs first, on
// the raw config; build gets the config once the settings every method
// shares have been checked and normalised (mounts trimmed).
type methodSpec struct {
	check func(*AuthConfig) error
	build func(AuthConfig, clientFunc) loginMethod
}

// methods maps each AuthMethod to its spec; the methods' files hold them.
var methods = map[AuthMethod]methodSpec{
	AuthToken:      {check: checkStaticToken, build: newStaticToken},
	AuthTokenFile:  {check: checkTokenFile, build: newTokenFile},
	AuthAppRole:    {check: checkAppRole, build: newAppRole},
	AuthKubernetes: {check: checkKubernetes, build: newKubernetes},
}

var mountPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

// newLoginMethod validates cfg and builds its login method. It returns cfg
// normalised: defaults filled, mounts trimmed.
func newLoginMethod(cfg AuthConfig, client clientFunc) (loginMethod, AuthConfig, error) {
	method := cfg.Method
	if method == "" {
		switch {
		case cfg.Token != "" && cfg.TokenFile != "":
			return nil, cfg, errors.New("vault auth: set token or token_file, not both")
		case cfg.TokenFile != "":
			method = AuthTokenFile
		default:
			method = AuthToken
		}
	}
	if cfg.FileCheckInterval < 0 {
		return nil, cfg, fmt.Errorf("vault auth: file_check_interval %s is negative", cfg.FileCheckInterval)
	}
	if cfg.FileCheckInterval == 0 {
		cfg.FileCheckInterval = defaultFileCheckInterval
	}

	spec, ok := methods[method]
	if !ok {
		return nil, cfg, fmt.Errorf("vault auth: unknown method %q (want token, token_file, approle or kubernetes)", method)
	}
	if err := spec.check(&cfg); err != nil {
		return nil, cfg, err
	}

	// Settings of another method are almost always a mistake (a forgotten
	// "method approle" line, say): refuse them rather than silently log in
	// some other way.
	fields := []struct {
		name   string
		set    bool
		method AuthMethod
	}{
		{"token", cfg.Token != "", AuthToken},
		{"token_file", cfg.TokenFile != "", AuthTokenFile},
		{"role_id", cfg.RoleID != "", AuthAppRole},
		{"role_id_file", cfg.RoleIDFile != "", AuthAppRole},
		{"secret_id_file", cfg.SecretIDFile != "", AuthAppRole},
		{"secret_id_wrapped", cfg.SecretIDWrapped, AuthAppRole},
		{"kubernetes_role", cfg.KubernetesRole != "", AuthKubernetes},
		{"service_account_token_file", cfg.ServiceAccountTokenFile != "", AuthKubernetes},
	}
	for _, f := range fields {
		if f.set && f.method != method {
			return nil, cfg, fmt.Errorf("vault auth: %s is not used by method %s", f.name, method)
		}
	}
	for name, mount := range map[string]*string{"approle_mount": &cfg.AppRoleMount, "kubernetes_mount": &cfg.KubernetesMount} {
		if *mount == "" {
			continue
		}
		*mount = strings.Trim(*mount, "/")
		if !mountPattern.MatchString(*mount) || strings.Contains(*mount, "..") {
			return nil, cfg, fmt.Errorf("vault auth: %s %q is not a valid mount path", name, *mount)
		}
	}
	cfg.Method = method
	return spec.build(cfg, client), cfg, nil
}
