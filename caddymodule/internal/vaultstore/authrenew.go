package vaultstore

import (
	"errors"
	"math/rand/v2"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// The background loops that keep the token alive, one per renewal: runLogin
// (renewLease), runStatic (renewSelf) and runFile (rereadSource).

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
		changed, err := a.reload(a.ctx, false)
		if err != nil {
			a.noteFileError(err)
			continue
		}
		a.mu.Lock()
		recovered := a.fileLastErr != ""
		a.fileLastErr = ""
		a.mu.Unlock()
		if changed || recovered {
			a.logger.Info("vault token file changed; using its token", "path", a.cfg.TokenFile)
		}
	}
}

// noteFileError logs a token file problem once, not at every check.
func (a *Authenticator) noteFileError(err error) {
	a.mu.Lock()
	repeat := a.fileLastErr == err.Error()
	a.fileLastErr = err.Error()
	a.mu.Unlock()
	if !repeat {
		a.logger.Warn("cannot use the vault token file; keeping the current token", "error", err)
	}
}
