package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"
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

const (
	defaultFileCheckInterval = 5 * time.Second
	// startLoginTimeout bounds the synchronous first login in Start: the
	// sidecar must come up even when Vault is slow or down.
	startLoginTimeout = 3 * time.Second
	// loginTimeout bounds one whole login (lookup, unwrap and login
	// requests) run in the background, so a hung Vault cannot wedge it.
	loginTimeout = 30 * time.Second
	// minAttemptInterval rate-limits the logins and file reloads triggered
	// from the request path (EnsureToken, Relogin): a burst of 403s, or
	// every request while Vault is down, costs at most one attempt a second.
	minAttemptInterval = time.Second
	maxBackoff         = time.Minute
)

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

// Authenticator logs the client in and keeps its token alive. It is safe
// for concurrent use.
type Authenticator struct {
	client *vault.Client
	cfg    AuthConfig // normalised: defaults filled, mounts trimmed
	method AuthMethod
	logger *slog.Logger

	// secretIDPath matches the creation path a wrapped secret id must have.
	secretIDPath *regexp.Regexp

	// ctx lives from NewAuthenticator to Stop; logins run under it rather
	// than under a caller's context, because singleflight shares one login
	// between callers and one caller giving up must not cancel it for all.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sf     singleflight.Group

	// loggedIn is signalled after each successful login so that the
	// background loop switches to watching the newest token.
	loggedIn chan struct{}

	mu        sync.Mutex
	started   bool
	stopped   bool
	stopAfter func() bool
	secret    *vault.Secret // auth secret of the newest login; nil once it ran out
	gen       uint64        // counts logins, so a stale watcher cannot retire a newer secret
	recent    map[string]attempt

	fileMu      sync.Mutex
	fileInfo    fs.FileInfo // of the token file when last read; nil before
	fileLastErr string      // last problem logged, so a missing file is not logged every tick

	wrapMu       sync.Mutex
	wrapToken    string // the wrapping token last unwrapped …
	wrapSecretID string // … and the secret id it held
}

// attempt is the outcome of the last request-path login or reload.
type attempt struct {
	at  time.Time
	err error
}

var mountPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

// NewAuthenticator validates cfg and returns an Authenticator for client.
// It does no network I/O and reads no files, so it is safe in a Caddy
// Provision that also runs on "caddy validate". It sets the client's token
// for the token method and clears it for the others, so that a VAULT_TOKEN
// picked up by the client from the environment never stands in for the
// configured method.
func NewAuthenticator(client *vault.Client, cfg AuthConfig, logger *slog.Logger) (*Authenticator, error) {
	if client == nil {
		return nil, errors.New("vault auth: no Vault client")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	method := cfg.Method
	if method == "" {
		switch {
		case cfg.Token != "" && cfg.TokenFile != "":
			return nil, errors.New("vault auth: set token or token_file, not both")
		case cfg.TokenFile != "":
			method = AuthTokenFile
		default:
			method = AuthToken
		}
	}
	if cfg.FileCheckInterval < 0 {
		return nil, fmt.Errorf("vault auth: file_check_interval %s is negative", cfg.FileCheckInterval)
	}
	if cfg.FileCheckInterval == 0 {
		cfg.FileCheckInterval = defaultFileCheckInterval
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
	switch method {
	case AuthToken:
	case AuthTokenFile:
		if strings.TrimSpace(cfg.TokenFile) == "" {
			return nil, errors.New("vault auth method token_file needs token_file")
		}
	case AuthAppRole:
		switch {
		case cfg.RoleID == "" && cfg.RoleIDFile == "":
			return nil, errors.New("vault auth method approle needs role_id or role_id_file")
		case cfg.RoleID != "" && cfg.RoleIDFile != "":
			return nil, errors.New("vault auth method approle: set role_id or role_id_file, not both")
		case cfg.SecretIDWrapped && cfg.SecretIDFile == "":
			return nil, errors.New("vault auth method approle: secret_id_wrapped needs secret_id_file")
		}
		if cfg.AppRoleMount == "" {
			cfg.AppRoleMount = "approle"
		}
	case AuthKubernetes:
		if cfg.KubernetesRole == "" {
			return nil, errors.New("vault auth method kubernetes needs kubernetes_role")
		}
		if cfg.KubernetesMount == "" {
			cfg.KubernetesMount = "kubernetes"
		}
		if cfg.ServiceAccountTokenFile == "" {
			cfg.ServiceAccountTokenFile = DefaultServiceAccountTokenFile
		}
	default:
		return nil, fmt.Errorf("vault auth: unknown method %q (want token, token_file, approle or kubernetes)", method)
	}
	for _, f := range fields {
		if f.set && f.method != method {
			return nil, fmt.Errorf("vault auth: %s is not used by method %s", f.name, method)
		}
	}
	for name, mount := range map[string]*string{"approle_mount": &cfg.AppRoleMount, "kubernetes_mount": &cfg.KubernetesMount} {
		if *mount == "" {
			continue
		}
		*mount = strings.Trim(*mount, "/")
		if !mountPattern.MatchString(*mount) || strings.Contains(*mount, "..") {
			return nil, fmt.Errorf("vault auth: %s %q is not a valid mount path", name, *mount)
		}
	}

	a := &Authenticator{
		client:   client,
		cfg:      cfg,
		method:   method,
		logger:   logger.With("vault_auth", string(method)),
		loggedIn: make(chan struct{}, 1),
		recent:   make(map[string]attempt),
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if method == AuthAppRole {
		// Namespaced Vaults may report the creation path with the namespace
		// in front, hence the optional prefix.
		a.secretIDPath = regexp.MustCompile(`(^|/)auth/` + regexp.QuoteMeta(cfg.AppRoleMount) + `/role/[^/]+/(custom-)?secret-id$`)
	}
	switch method {
	case AuthToken:
		client.SetToken(a.staticToken())
	default:
		client.ClearToken()
	}
	return a, nil
}

// Method reports the auth method in use, after resolving an empty
// AuthConfig.Method.
func (a *Authenticator) Method() AuthMethod { return a.method }

// errNoToken is returned for the token method when neither the config nor
// the environment has a token.
var errNoToken = errors.New("vault auth: no Vault token configured (set token, token_file or VAULT_TOKEN, or use approle or kubernetes)")

func (a *Authenticator) staticToken() string {
	if t := strings.TrimSpace(a.cfg.Token); t != "" {
		return t
	}
	return strings.TrimSpace(os.Getenv(vault.EnvVaultToken))
}

// Start logs in (or loads the token) and starts the background work that
// keeps the token alive: renewing it and logging in again when it can no
// longer be renewed, or watching the token file. The background work runs
// until Stop is called or ctx is done.
//
// Start does not wait for Vault: when the first login fails or takes longer
// than a few seconds it logs why and returns nil, and the login is retried
// in the background with exponential backoff. Requests meanwhile fail with
// errors from EnsureToken. Start returns an error only for problems that
// retrying cannot fix.
func (a *Authenticator) Start(ctx context.Context) error {
	a.mu.Lock()
	switch {
	case a.stopped:
		a.mu.Unlock()
		return errors.New("vault auth: Start after Stop")
	case a.started:
		a.mu.Unlock()
		return errors.New("vault auth: already started")
	}
	a.started = true
	a.stopAfter = context.AfterFunc(ctx, a.cancel)
	// Added under mu, before Stop can mark us stopped, so that Stop's
	// Wait always covers the background goroutine.
	a.wg.Add(1)
	a.mu.Unlock()

	switch a.method {
	case AuthToken:
		tok := a.staticToken()
		if tok == "" {
			a.wg.Done()
			return errNoToken
		}
		if a.client.Token() == "" {
			a.client.SetToken(tok)
		}
		a.goBackground(a.runStatic)

	case AuthTokenFile:
		// A missing sink is not fatal: Vault Agent may write it after we
		// start. The watcher picks it up when it appears.
		if _, err := a.reloadFile(false); err != nil {
			a.noteFileError(err)
		}
		a.goBackground(a.runFile)

	default:
		sctx, cancel := context.WithTimeout(ctx, startLoginTimeout)
		_, err := a.loginShared(sctx)
		cancel()
		failures := 0
		if err != nil {
			failures = 1
			a.logger.Warn("vault login failed; retrying in the background", "error", err)
		}
		a.goBackground(func() { a.runLogin(failures) })
	}
	return nil
}

// goBackground runs f in the goroutine Start has added to wg.
func (a *Authenticator) goBackground(f func()) {
	go func() {
		defer a.wg.Done()
		f()
	}()
}

// Stop ends the background work and waits for it. Tokens already obtained
// are left to expire: revoking them could fail requests still in flight.
func (a *Authenticator) Stop() {
	a.mu.Lock()
	a.stopped = true
	stopAfter := a.stopAfter
	a.mu.Unlock()
	a.cancel()
	if stopAfter != nil {
		stopAfter()
	}
	a.wg.Wait()
}

// EnsureToken makes sure the client has a token, logging in (or reading the
// token file) now if it has none, bounded by ctx. It is a cheap no-op when
// a token is set. Attempts are rate-limited: within a second of a failed
// attempt it returns that attempt's error without trying again.
func (a *Authenticator) EnsureToken(ctx context.Context) error {
	if a.client.Token() != "" {
		return nil
	}
	switch a.method {
	case AuthToken:
		tok := a.staticToken()
		if tok == "" {
			return errNoToken
		}
		a.client.SetToken(tok)
		return nil
	case AuthTokenFile:
		return a.limited(ctx, "ensure", func(context.Context) error {
			_, err := a.reloadFile(true)
			return err
		})
	default:
		return a.limited(ctx, "ensure", func(ctx context.Context) error {
			_, err := a.loginShared(ctx)
			return err
		})
	}
}

// Relogin is called after Vault answered 403. It re-reads the token file or
// logs in again if the client's token is no longer valid. It returns nil
// when the client now holds a token Vault accepts: the caller should retry
// its request once, and a second 403 is a genuine permission problem (the
// policy does not allow the path). A still-valid token is detected with
// auth/token/lookup-self and kept, so a policy denial does not mint a new
// token per request.
//
// Concurrent calls share one attempt, and attempts are at most once a
// second: a call within a second of the last attempt returns its result.
func (a *Authenticator) Relogin(ctx context.Context) error {
	return a.limited(ctx, "relogin", a.relogin)
}

func (a *Authenticator) relogin(ctx context.Context) error {
	switch a.method {
	case AuthToken:
		tok := a.client.Token()
		if tok == "" {
			if tok = a.staticToken(); tok == "" {
				return errNoToken
			}
			a.client.SetToken(tok)
		}
		if err := a.checkToken(ctx, tok); err != nil {
			return fmt.Errorf("vault auth: the configured token: %w", err)
		}
		return nil

	case AuthTokenFile:
		changed, err := a.reloadFile(true)
		if err != nil || changed {
			return err
		}
		if err := a.checkToken(ctx, a.client.Token()); err != nil {
			return fmt.Errorf("vault auth: the token in %s: %w (is Vault Agent keeping it fresh?)", a.cfg.TokenFile, err)
		}
		return nil

	default:
		if tok := a.client.Token(); tok != "" {
			err := a.checkToken(ctx, tok)
			if err == nil {
				return nil
			}
			if !errors.Is(err, errTokenRejected) {
				return err
			}
		}
		_, err := a.loginShared(ctx)
		return err
	}
}

// limited runs f at most once a second per key, sharing a running attempt
// between callers. f runs under the Authenticator's context so that a
// caller giving up does not cancel it for the others; the caller waits at
// most until its own ctx is done.
func (a *Authenticator) limited(ctx context.Context, key string, f func(context.Context) error) error {
	a.mu.Lock()
	last, ok := a.recent[key]
	a.mu.Unlock()
	if ok && time.Since(last.at) < minAttemptInterval {
		return last.err
	}
	ch := a.sf.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(a.ctx, loginTimeout)
		defer cancel()
		err := f(fctx)
		a.mu.Lock()
		a.recent[key] = attempt{at: time.Now(), err: err}
		a.mu.Unlock()
		return nil, err
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return fmt.Errorf("vault auth: waiting for login: %w", ctx.Err())
	}
}

// errTokenRejected marks a token Vault no longer accepts.
var errTokenRejected = errors.New("rejected by Vault (expired, revoked or unknown)")

// checkToken asks Vault whether tok is valid (auth/token/lookup-self, which
// the default policy allows).
func (a *Authenticator) checkToken(ctx context.Context, tok string) error {
	if tok == "" {
		return errTokenRejected
	}
	_, err := a.lookupSelf(ctx, tok)
	return err
}

func (a *Authenticator) lookupSelf(ctx context.Context, tok string) (*vault.Secret, error) {
	lc, err := a.loginClient()
	if err != nil {
		return nil, err
	}
	lc.SetToken(tok)
	sec, err := lc.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
			return nil, errTokenRejected
		}
		return nil, sanitize("looking up the token (auth/token/lookup-self)", err, tok)
	}
	if sec == nil {
		return nil, errors.New("looking up the token: empty answer from Vault")
	}
	return sec, nil
}

// loginClient returns a copy of the client, with its address, TLS settings,
// timeout and headers (including the namespace) but without its token: a
// stale token sent along with a login could be rejected, and unwrapping
// with the api package sets the client's token to the wrapping token, which
// must never reach the shared client.
func (a *Authenticator) loginClient() (*vault.Client, error) {
	lc, err := a.client.CloneWithHeaders()
	if err != nil {
		return nil, fmt.Errorf("vault auth: copying the Vault client: %w", err)
	}
	lc.ClearToken() // the copy may have picked up VAULT_TOKEN
	// A VAULT_WRAP_TTL in the environment would wrap the login response.
	lc.SetWrappingLookupFunc(func(string, string) string { return "" })
	return lc, nil
}

// loginShared logs in, sharing a login already running. The login runs
// under the Authenticator's context; ctx only bounds the wait.
func (a *Authenticator) loginShared(ctx context.Context) (*vault.Secret, error) {
	ch := a.sf.DoChan("login", func() (any, error) {
		lctx, cancel := context.WithTimeout(a.ctx, loginTimeout)
		defer cancel()
		return a.login(lctx)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*vault.Secret), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("vault auth: waiting for login: %w", ctx.Err())
	}
}

// login performs one login with the configured method and installs the
// new token.
func (a *Authenticator) login(ctx context.Context) (*vault.Secret, error) {
	lc, err := a.loginClient()
	if err != nil {
		return nil, err
	}
	var (
		path    string
		body    map[string]any
		secrets []string // values that must never appear in errors
		what    string
	)
	switch a.method {
	case AuthAppRole:
		path = "auth/" + a.cfg.AppRoleMount + "/login"
		what = fmt.Sprintf("vault approle login (%s)", path)
		roleID, secretID, err := a.appRoleCredentials(ctx, lc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		body = map[string]any{"role_id": roleID}
		if secretID != "" {
			body["secret_id"] = secretID
		}
		secrets = []string{roleID, secretID}
	case AuthKubernetes:
		path = "auth/" + a.cfg.KubernetesMount + "/login"
		what = fmt.Sprintf("vault kubernetes login (%s, role %q)", path, a.cfg.KubernetesRole)
		jwt, err := readSecretFile(a.cfg.ServiceAccountTokenFile, "service account token")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		body = map[string]any{"role": a.cfg.KubernetesRole, "jwt": jwt}
		secrets = []string{jwt}
	default:
		return nil, fmt.Errorf("vault auth: method %s does not log in", a.method)
	}

	sec, err := lc.Logical().WriteWithContext(ctx, path, body)
	if err != nil {
		return nil, sanitize(what, err, secrets...)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%s: Vault's answer has no token", what)
	}

	a.mu.Lock()
	a.gen++
	a.secret = sec
	a.mu.Unlock()
	a.client.SetToken(sec.Auth.ClientToken)
	select {
	case a.loggedIn <- struct{}{}:
	default: // a signal is already pending; one is enough
	}
	if a.ctx.Err() == nil { // quiet after Stop: the logger may be gone
		a.logger.Info("logged in to vault",
			"ttl", time.Duration(sec.Auth.LeaseDuration)*time.Second, "renewable", sec.Auth.Renewable,
			"policies", sec.Auth.Policies)
	}
	return sec, nil
}

// appRoleCredentials reads the role id and secret id for one login.
func (a *Authenticator) appRoleCredentials(ctx context.Context, lc *vault.Client) (roleID, secretID string, err error) {
	roleID = strings.TrimSpace(a.cfg.RoleID)
	if a.cfg.RoleIDFile != "" {
		if roleID, err = readSecretFile(a.cfg.RoleIDFile, "role id"); err != nil {
			return "", "", err
		}
	}
	if a.cfg.SecretIDFile == "" {
		return roleID, "", nil
	}
	if !a.cfg.SecretIDWrapped {
		secretID, err = readSecretFile(a.cfg.SecretIDFile, "secret id")
		return roleID, secretID, err
	}
	secretID, err = a.unwrapSecretID(ctx, lc)
	return roleID, secretID, err
}

// unwrapSecretID returns the secret id wrapped by the token in
// SecretIDFile. A wrapping token can be unwrapped once, so the result is
// cached for as long as the file holds the same token (or is deleted after
// reading, as Vault Agent can be told to do).
func (a *Authenticator) unwrapSecretID(ctx context.Context, lc *vault.Client) (string, error) {
	a.wrapMu.Lock()
	defer a.wrapMu.Unlock()
	wt, err := readSecretFile(a.cfg.SecretIDFile, "wrapped secret id")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && a.wrapSecretID != "" {
			return a.wrapSecretID, nil
		}
		return "", err
	}
	if wt == a.wrapToken && a.wrapSecretID != "" {
		return a.wrapSecretID, nil
	}

	// Check where the wrapping token comes from before unwrapping it: a
	// token wrapping something else (planted by whoever can write the file)
	// must not be unwrapped and used. sys/wrapping/lookup needs no token.
	info, err := lc.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": wt})
	if err != nil {
		return "", sanitize(fmt.Sprintf("looking up the wrapping token in %s", a.cfg.SecretIDFile), err, wt)
	}
	var creationPath string
	if info != nil {
		creationPath, _ = info.Data["creation_path"].(string)
	}
	if !a.secretIDPath.MatchString(creationPath) {
		return "", fmt.Errorf("the wrapping token in %s was created by %q, not by auth/%s/role/<role>/secret-id: refusing to unwrap it",
			a.cfg.SecretIDFile, creationPath, a.cfg.AppRoleMount)
	}

	// lc has no token, so UnwrapWithContext sends the wrapping token as the
	// request token; clear it afterwards so the login does not carry it.
	sec, err := lc.Logical().UnwrapWithContext(ctx, wt)
	lc.ClearToken()
	if err != nil {
		return "", sanitize(fmt.Sprintf("unwrapping the secret id in %s", a.cfg.SecretIDFile), err, wt)
	}
	var sid string
	if sec != nil {
		sid, _ = sec.Data["secret_id"].(string)
	}
	if sid == "" {
		return "", fmt.Errorf("the wrapped response in %s has no secret_id", a.cfg.SecretIDFile)
	}
	a.wrapToken, a.wrapSecretID = wt, sid
	return sid, nil
}

// readSecretFile reads a one-line credential. Errors name the file, never
// its content.
func readSecretFile(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s file: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s file %s is empty", what, path)
	}
	return s, nil
}

// runLogin keeps a login method's token alive: it watches the newest auth
// secret with a LifetimeWatcher, which renews it until it cannot be renewed
// further (max TTL) or renewal keeps failing, then logs in again, with
// backoff while logins fail.
func (a *Authenticator) runLogin(failures int) {
	for a.ctx.Err() == nil {
		a.mu.Lock()
		sec, gen := a.secret, a.gen
		a.mu.Unlock()
		if sec != nil {
			failures = 0
			a.watch(sec, gen)
			continue
		}
		if failures > 0 {
			d := backoff(failures)
			a.logger.Debug("waiting before the next vault login", "delay", d)
			if !a.wait(d) {
				return
			}
			// A login elsewhere (EnsureToken, Relogin) may have succeeded
			// meanwhile; watch its token rather than logging in again.
			a.mu.Lock()
			fresh := a.secret != nil
			a.mu.Unlock()
			if fresh {
				continue
			}
		}
		if _, err := a.loginShared(a.ctx); err != nil {
			if a.ctx.Err() != nil {
				return
			}
			failures++
			a.logger.Warn("vault login failed; retrying", "error", err, "attempt", failures)
			continue
		}
	}
}

// watch renews sec until the watcher gives up, a newer login replaces it,
// or the Authenticator stops. When the watcher gives up the secret is
// retired, so runLogin logs in again.
func (a *Authenticator) watch(sec *vault.Secret, gen uint64) {
	var done <-chan error // stays nil, blocking, for a token that never expires
	if sec.Auth.LeaseDuration > 0 {
		// RenewTokenAsSelf sends the token being renewed explicitly, so the
		// token-less copy of the client is enough.
		lc, err := a.loginClient()
		var w *vault.LifetimeWatcher
		if err == nil {
			w, err = lc.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: sec})
		}
		if err != nil {
			a.logger.Error("cannot renew the vault token", "error", err)
			a.retire(gen)
			a.wait(maxBackoff) // not a tight loop of logins
			return
		}
		go w.Start()
		defer w.Stop()
		done = w.DoneCh()
	}
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.loggedIn:
			a.mu.Lock()
			newer := a.gen != gen
			a.mu.Unlock()
			if newer {
				return
			}
		case err := <-done:
			if err != nil {
				a.logger.Warn("renewing the vault token failed; logging in again", "error", sanitize("renewing the token", err, sec.Auth.ClientToken))
			} else {
				a.logger.Info("the vault token cannot be renewed further (max TTL); logging in again")
			}
			a.retire(gen)
			return
		}
	}
}

// retire forgets the auth secret of login gen unless a newer login has
// replaced it. The client keeps the token: it is valid for a moment yet,
// and a new login replaces it.
func (a *Authenticator) retire(gen uint64) {
	a.mu.Lock()
	if a.gen == gen {
		a.secret = nil
	}
	a.mu.Unlock()
}

// wait sleeps for d, returning early (true) when a login elsewhere
// succeeds, and false when the Authenticator stops.
func (a *Authenticator) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.ctx.Done():
		return false
	case <-t.C:
		return true
	case <-a.loggedIn:
		return true
	}
}

// backoff returns the delay before retry number failures: exponential from
// one second, capped at maxBackoff, with jitter so that many sidecars
// restarting together do not log in in lockstep.
func backoff(failures int) time.Duration {
	d := time.Second << min(max(failures-1, 0), 6)
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2)
}

// runStatic renews a static token while Vault says it is renewable. A
// static token cannot be replaced, so once it reaches its max TTL or Vault
// rejects it the loop ends with a log message.
func (a *Authenticator) runStatic() {
	failures := 0
	for a.ctx.Err() == nil {
		tok := a.client.Token()
		sec, err := a.lookupSelf(a.ctx, tok)
		switch {
		case errors.Is(err, errTokenRejected):
			a.logger.Error("vault rejects the configured token; requests will fail until it is replaced")
			return
		case err != nil:
			if a.ctx.Err() != nil {
				return
			}
			failures++
			d := backoff(failures)
			a.logger.Warn("cannot look up the vault token; retrying", "error", err, "delay", d)
			if !a.wait(d) {
				return
			}
			continue
		}
		failures = 0
		renewable, _ := sec.TokenIsRenewable()
		ttl, _ := sec.TokenTTL()
		if !renewable || ttl <= 0 {
			// Root tokens and periodic-less batch tokens: nothing to renew.
			a.logger.Debug("the vault token is not renewable; not renewing it", "ttl", ttl)
			return
		}
		lc, err := a.loginClient()
		if err != nil {
			a.logger.Error("cannot renew the vault token", "error", err)
			return
		}
		w, err := lc.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: &vault.Secret{Auth: &vault.SecretAuth{
			ClientToken: tok, Renewable: true, LeaseDuration: int(ttl / time.Second),
		}}})
		if err != nil {
			a.logger.Error("cannot renew the vault token", "error", err)
			return
		}
		go w.Start()
		select {
		case <-a.ctx.Done():
			w.Stop()
			return
		case err := <-w.DoneCh():
			w.Stop()
			if err == nil {
				a.logger.Warn("the configured vault token reaches its max TTL soon and cannot be renewed further; use token_file, approle or kubernetes to get new tokens")
				return
			}
			// Renewal failed for the whole remaining lifetime (Vault down):
			// look the token up again in case it survived.
			a.logger.Warn("renewing the vault token failed", "error", sanitize("renewing the token", err, tok))
		}
	}
}

// runFile polls the token file and installs its token when it changes.
func (a *Authenticator) runFile() {
	t := time.NewTicker(a.cfg.FileCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		changed, err := a.reloadFile(false)
		if err != nil {
			a.noteFileError(err)
			continue
		}
		a.fileMu.Lock()
		recovered := a.fileLastErr != ""
		a.fileLastErr = ""
		a.fileMu.Unlock()
		if changed || recovered {
			a.logger.Info("vault token file changed; using its token", "path", a.cfg.TokenFile)
		}
	}
}

// noteFileError logs a token file problem once, not at every check.
func (a *Authenticator) noteFileError(err error) {
	a.fileMu.Lock()
	repeat := a.fileLastErr == err.Error()
	a.fileLastErr = err.Error()
	a.fileMu.Unlock()
	if !repeat {
		a.logger.Warn("cannot use the vault token file; keeping the current token", "error", err)
	}
}

// reloadFile installs the token in TokenFile if the file changed since it
// was last read (or always, with force). It reports whether the client's
// token changed. On error the client keeps its token: a sink being
// rewritten, or briefly missing, must not cost a working token.
func (a *Authenticator) reloadFile(force bool) (bool, error) {
	a.fileMu.Lock()
	defer a.fileMu.Unlock()
	// Stat before reading: if the file changes in between, the next check
	// reads it again, so a change is never missed.
	fi, err := os.Stat(a.cfg.TokenFile)
	if err != nil {
		return false, fmt.Errorf("vault token file: %w", err)
	}
	if !force && !fileChanged(a.fileInfo, fi) {
		return false, nil
	}
	tok, err := readSecretFile(a.cfg.TokenFile, "vault token")
	if err != nil {
		return false, err
	}
	a.fileInfo = fi
	if tok == a.client.Token() {
		return false, nil
	}
	a.client.SetToken(tok)
	return true, nil
}

// fileChanged reports whether the file now described by cur differs from
// the one read as prev. Besides modification time and size it compares the
// file's identity (inode): Vault Agent replaces its sink by renaming a new
// file over it, and two tokens of the same length written within one tick
// of the file system's coarse clock have the same size and mtime.
func fileChanged(prev, cur fs.FileInfo) bool {
	return prev == nil || !os.SameFile(prev, cur) || !prev.ModTime().Equal(cur.ModTime()) || prev.Size() != cur.Size()
}

// authError is an error whose text has been checked for credentials. Its
// cause, when kept, is equally clean, so errors.As can still reach a
// *vault.ResponseError for the status code.
type authError struct {
	msg   string
	cause error
}

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error { return e.cause }

// sanitize describes a Vault client error in one line, prefixed with op,
// with every occurrence of the given credentials redacted. Vault's own
// messages do not echo credentials today, but a proxy or a future version
// might, and these errors end up in logs.
func sanitize(op string, err error, secrets ...string) error {
	redact := func(s string) string {
		for _, sec := range secrets {
			if sec != "" {
				s = strings.ReplaceAll(s, sec, "[redacted]")
			}
		}
		return s
	}
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := fmt.Sprintf("%s: HTTP %d from Vault", op, re.StatusCode)
		clean := *re
		clean.URL = redact(re.URL)
		clean.Errors = nil
		if !re.RawError { // a raw body may be an HTML page from a proxy
			for _, e := range re.Errors {
				clean.Errors = append(clean.Errors, redact(e))
			}
			if len(clean.Errors) > 0 {
				msg += ": " + strings.Join(clean.Errors, "; ")
			}
		}
		return &authError{msg: msg, cause: &clean}
	}
	text := err.Error()
	if clean := redact(text); clean != text {
		return &authError{msg: op + ": " + clean}
	}
	return &authError{msg: op + ": " + text, cause: err}
}
