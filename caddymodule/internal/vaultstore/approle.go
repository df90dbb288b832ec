package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// appRole is the approle method: a login at auth/<mount>/login with a role
// id and a secret id, read from their files at each login.
type appRole struct {
	client       clientFunc
	mount        string
	path         string // auth/<mount>/login
	roleID       string
	roleIDFile   string
	secretIDFile string
	wrapped      bool
	// secretIDPath matches the creation path a wrapped secret id must have.
	secretIDPath *regexp.Regexp

	// The Authenticator calls token one at a time, so these need no lock.
	wrapToken    string // the wrapping token last unwrapped …
	wrapSecretID string // … and the secret id it held
}

func checkAppRole(cfg *AuthConfig) error {
	switch {
	case cfg.RoleID == "" && cfg.RoleIDFile == "":
		return errors.New("vault auth method approle needs role_id or role_id_file")
	case cfg.RoleID != "" && cfg.RoleIDFile != "":
		return errors.New("vault auth method approle: set role_id or role_id_file, not both")
	case cfg.SecretIDWrapped && cfg.SecretIDFile == "":
		return errors.New("vault auth method approle: secret_id_wrapped needs secret_id_file")
	}
	if cfg.AppRoleMount == "" {
		cfg.AppRoleMount = "approle"
	}
	return nil
}

func newAppRole(cfg AuthConfig, client clientFunc) loginMethod {
	return &appRole{
		client:       client,
		mount:        cfg.AppRoleMount,
		path:         "auth/" + cfg.AppRoleMount + "/login",
		roleID:       cfg.RoleID,
		roleIDFile:   cfg.RoleIDFile,
		secretIDFile: cfg.SecretIDFile,
		wrapped:      cfg.SecretIDWrapped,
		// Namespaced Vaults may report the creation path with the namespace
		// in front, hence the optional prefix.
		secretIDPath: regexp.MustCompile(`(^|/)auth/` + regexp.QuoteMeta(cfg.AppRoleMount) + `/role/[^/]+/(custom-)?secret-id$`),
	}
}

func (m *appRole) name() AuthMethod { return AuthAppRole }

func (m *appRole) renewal() renewal { return renewLease }

// token logs in.
func (m *appRole) token(ctx context.Context, _ bool) (*vault.Secret, error) {
	lc, err := m.client()
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("vault approle login (%s)", m.path)
	roleID, secretID, err := m.credentials(ctx, lc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	body := map[string]any{"role_id": roleID}
	if secretID != "" {
		body["secret_id"] = secretID
	}
	return writeLogin(ctx, lc, m.path, what, body, roleID, secretID)
}

// rejected is not called for a method that logs in: Relogin replaces a
// rejected token with a new login.
func (m *appRole) rejected(err error) error { return err }

// credentials reads the role id and secret id for one login.
func (m *appRole) credentials(ctx context.Context, lc *vault.Client) (roleID, secretID string, err error) {
	roleID = strings.TrimSpace(m.roleID)
	if m.roleIDFile != "" {
		if roleID, err = readSecretFile(m.roleIDFile, "role id"); err != nil {
			return "", "", err
		}
	}
	if m.secretIDFile == "" {
		return roleID, "", nil
	}
	if !m.wrapped {
		secretID, err = readSecretFile(m.secretIDFile, "secret id")
		return roleID, secretID, err
	}
	secretID, err = m.unwrapSecretID(ctx, lc)
	return roleID, secretID, err
}

// unwrapSecretID returns the secret id wrapped by the token in
// secretIDFile. A wrapping token can be unwrapped once, so the result is
// cached for as long as the file holds the same token (or is deleted after
// reading, as Vault Agent can be told to do).
func (m *appRole) unwrapSecretID(ctx context.Context, lc *vault.Client) (string, error) {
	wt, err := readSecretFile(m.secretIDFile, "wrapped secret id")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && m.wrapSecretID != "" {
			return m.wrapSecretID, nil
		}
		return "", err
	}
	if wt == m.wrapToken && m.wrapSecretID != "" {
		return m.wrapSecretID, nil
	}

	// Check where the wrapping token comes from before unwrapping it: a
	// token wrapping something else (planted by whoever can write the file)
	// must not be unwrapped and used. sys/wrapping/lookup needs no token.
	info, err := lc.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": wt})
	if err != nil {
		return "", sanitize(fmt.Sprintf("looking up the wrapping token in %s", m.secretIDFile), err, wt)
	}
	var creationPath string
	if info != nil {
		creationPath, _ = info.Data["creation_path"].(string)
	}
	if !m.secretIDPath.MatchString(creationPath) {
		return "", fmt.Errorf("the wrapping token in %s was created by %q, not by auth/%s/role/<role>/secret-id: refusing to unwrap it",
			m.secretIDFile, creationPath, m.mount)
	}

	// lc has no token, so UnwrapWithContext sends the wrapping token as the
	// request token; clear it afterwards so the login does not carry it.
	sec, err := lc.Logical().UnwrapWithContext(ctx, wt)
	lc.ClearToken()
	if err != nil {
		return "", sanitize(fmt.Sprintf("unwrapping the secret id in %s", m.secretIDFile), err, wt)
	}
	var sid string
	if sec != nil {
		sid, _ = sec.Data["secret_id"].(string)
	}
	if sid == "" {
		return "", fmt.Errorf("the wrapped response in %s has no secret_id", m.secretIDFile)
	}
	m.wrapToken, m.wrapSecretID = wt, sid
	return sid, nil
}

var _ loginMethod = (*appRole)(nil)
