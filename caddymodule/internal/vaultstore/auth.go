package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"
)

const (
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

// loginMethod is one way of getting the sidecar's Vault token (token.go,
// tokenfile.go, approle.go, kubernetes.go). A method only gets tokens; the
// Authenticator installs them and keeps them alive as renewal says.
type loginMethod interface {
	// name is the method as configured.
	name() AuthMethod
	// renewal says how the Authenticator keeps the method's token alive.
	renewal() renewal
	// token gets a token, bounded by ctx: the configured one, the token
	// file's, or a new one from a login. A login returns Vault's auth
	// secret with its lease; the others a secret holding only the token.
	// A source read only when it changes (the token file) is read anyway
	// with force, and returns nil, nil when it did not change. The
	// Authenticator calls token one at a time.
	token(ctx context.Context, force bool) (*vault.Secret, error)
	// rejected describes err, Vault refusing the method's token, for
	// Relogin when the method cannot replace the token by logging in.
	rejected(err error) error
}

// renewal is how the Authenticator keeps a method's token alive.
type renewal int

const (
	// renewLease: the token comes from a login. Its lease is renewed with
	// a LifetimeWatcher, and the method logs in again when it cannot be
	// renewed further or Vault rejects it.
	renewLease renewal = iota
	// renewSelf: the token is given and cannot be replaced. It is renewed
	// while Vault says it is renewable.
	renewSelf
	// rereadSource: something else (Vault Agent) keeps the token fresh.
	// The source is re-read when it changes and after Vault answers 403.
	rereadSource
)

// clientFunc returns a token-less copy of the Vault client, for the
// requests of a login.
type clientFunc func() (*vault.Client, error)

// Authenticator logs the client in and keeps its token alive. It is safe
// for concurrent use.
type Authenticator struct {
	client *vault.Client
	cfg    AuthConfig // normalised: defaults filled, mounts trimmed
	method loginMethod
	logger *slog.Logger

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

	// tokenMu makes getting a token and installing it one step, so that a
	// slower read of an older token file never replaces a newer token, and
	// the methods' own state needs no lock.
	tokenMu sync.Mutex

	mu          sync.Mutex
	started     bool
	stopped     bool
	stopAfter   func() bool
	secret      *vault.Secret // auth secret of the newest login; nil once it ran out
	gen         uint64        // counts logins, so a stale watcher cannot retire a newer secret
	recent      map[string]attempt
	fileLastErr string // last token file problem logged, so a missing file is not logged every tick
}

// attempt is the outcome of the last request-path login or reload.
type attempt struct {
	at  time.Time
	err error
}

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
	a := &Authenticator{
		client:   client,
		loggedIn: make(chan struct{}, 1),
		recent:   make(map[string]attempt),
	}
	m, cfg, err := newLoginMethod(cfg, a.loginClient)
	if err != nil {
		return nil, err
	}
	a.cfg, a.method = cfg, m
	a.logger = logger.With("vault_auth", string(m.name()))
	a.ctx, a.cancel = context.WithCancel(context.Background())
	client.ClearToken()
	if m.renewal() == renewSelf {
		// A given token is in memory: use it from the first request on.
		if sec, err := m.token(a.ctx, false); err == nil {
			client.SetToken(sec.Auth.ClientToken)
		}
	}
	return a, nil
}

// Method reports the auth method in use, after resolving an empty
// AuthConfig.Method.
func (a *Authenticator) Method() AuthMethod { return a.method.name() }

// tokenSecret wraps a token that did not come from a login (configured, or
// read from a file) as a secret, the shape loginMethod.token returns.
func tokenSecret(tok string) *vault.Secret {
	return &vault.Secret{Auth: &vault.SecretAuth{ClientToken: tok}}
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

	switch a.method.renewal() {
	case renewSelf:
		if _, err := a.reload(ctx, false); err != nil {
			a.wg.Done()
			return err
		}
		a.goBackground(a.runStatic)

	case rereadSource:
		// A missing sink is not fatal: Vault Agent may write it after we
		// start. The watcher picks it up when it appears.
		if _, err := a.reload(ctx, false); err != nil {
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
	if a.method.renewal() == renewSelf {
		// The token is in memory: there is no attempt to rate-limit.
		_, err := a.reload(ctx, true)
		return err
	}
	return a.limited(ctx, "ensure", a.obtain)
}

// obtain gets a new token now: a login, or a forced read of the source.
func (a *Authenticator) obtain(ctx context.Context) error {
	if a.method.renewal() == renewLease {
		_, err := a.loginShared(ctx)
		return err
	}
	_, err := a.reload(ctx, true)
	return err
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
	switch a.method.renewal() {
	case renewLease:
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

	case rereadSource:
		// A changed file holds a new token to retry with.
		changed, err := a.reload(ctx, true)
		if err != nil || changed {
			return err
		}

	default:
		// Installs the given token if the client has none.
		if a.client.Token() == "" {
			if _, err := a.reload(ctx, false); err != nil {
				return err
			}
		}
	}
	if err := a.checkToken(ctx, a.client.Token()); err != nil {
		return a.method.rejected(err)
	}
	return nil
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

// reload installs the token of a method that does not log in (the given
// token, the token file's) if it differs from the client's, and reports
// whether the client's token changed. force reads a token file even if it
// looks unchanged. On error the client keeps its token: a sink being
// rewritten, or briefly missing, must not cost a working token.
func (a *Authenticator) reload(ctx context.Context, force bool) (bool, error) {
	a.tokenMu.Lock()
	defer a.tokenMu.Unlock()
	sec, err := a.method.token(ctx, force)
	if err != nil || sec == nil {
		return false, err
	}
	if sec.Auth.ClientToken == a.client.Token() {
		return false, nil
	}
	a.client.SetToken(sec.Auth.ClientToken)
	return true, nil
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
	a.tokenMu.Lock()
	defer a.tokenMu.Unlock()
	sec, err := a.method.token(ctx, true)
	if err != nil {
		return nil, err
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

// writeLogin posts a login request to path with lc and returns Vault's
// auth secret. what names the login in errors, from which the given
// credentials are redacted.
func writeLogin(ctx context.Context, lc *vault.Client, path, what string, body map[string]any, secrets ...string) (*vault.Secret, error) {
	sec, err := lc.Logical().WriteWithContext(ctx, path, body)
	if err != nil {
		return nil, sanitize(what, err, secrets...)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%s: Vault's answer has no token", what)
	}
	return sec, nil
}
