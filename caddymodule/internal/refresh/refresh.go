// Package refresh keeps passports' access tokens fresh: it redeems refresh
// tokens at the provider, once per expiry across every replica sharing a
// Vault, and writes the rotated tokens back before anyone uses them.
//
// # Protocol across replicas
//
// Each passport has a lease record, <prefix>/leases/<passportId>, written
// only with Vault KV v2 check-and-set. To refresh, a replica:
//
//  1. reads the passport; if its token differs from the one the caller
//     found stale and is not expired, another replica already refreshed:
//     done;
//  2. reads the lease; if another holder has it and it has not expired,
//     waits (polling the passport) and starts over;
//  3. takes the lease with check-and-set on the version it read (a lost
//     race is a conflict: wait and start over) and keeps renewing it while
//     it works;
//  4. re-reads the passport (someone may have finished between 1 and 3);
//  5. redeems the refresh token at the provider;
//  6. writes the new tokens with check-and-set on the passport version of
//     step 4, before anyone uses them; if Vault cannot take the write, the
//     tokens stay in memory and are written back with retries;
//  7. releases the lease.
//
// # A sent refresh token is never lost
//
// Many providers rotate refresh tokens: once a redemption reaches them,
// the old refresh token is dead whether or not its answer is read. So
// from step 3 on, nothing cancels a refresh: not the caller leaving, not
// a config reload (the old app's Cleanup), not the token timeout once the
// request is written (the answer is awaited up to AnswerTimeout), and not
// the process stopping (Drain lets shutdown wait for it, bounded).
//
// Failure analysis is in the README ("Token refresh across replicas").
package refresh

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// Errors a refresh ends with (besides Vault being unavailable).
var (
	// ErrNotRefreshable: no known provider, no refresh token, or refresh
	// type "none". The token is used until it expires.
	ErrNotRefreshable = passport.ErrNotRefreshable
	// ErrReconnectRequired: the provider refused the refresh token. It
	// wraps passport.ErrInactive, so callers answer 401.
	ErrReconnectRequired = fmt.Errorf("%w: reconnect required", passport.ErrInactive)
	// ErrFailed: the token endpoint failed (5xx, unreachable, timeout, or a
	// client misconfiguration); retried later with backoff.
	ErrFailed = errors.New("token refresh failed")
	// ErrRecentlyRefreshed: a refresh was asked for a token that has not
	// expired (the provider refused it), but the passport was refreshed
	// less than ForcedInterval ago, here or on another replica. A fresh
	// token the provider refuses will not be cured by another one: the
	// refusal goes to the widget.
	ErrRecentlyRefreshed = errors.New("passport refreshed moments ago")
)

// Config tunes the refresher. Zero values take the defaults.
type Config struct {
	// LeaseTTL is how long a lease lasts unless renewed. Default 15s.
	LeaseTTL time.Duration
	// TokenTimeout bounds reaching a token endpoint: connecting and
	// sending the request. Default 10s.
	TokenTimeout time.Duration
	// AnswerTimeout bounds waiting for a token endpoint's answer once the
	// request is sent. It is generous because giving up loses a rotated
	// refresh token. Default 2m.
	AnswerTimeout time.Duration
	// DefaultLifetime is given to tokens whose response has no expires_in:
	// never "valid forever". Default 1h.
	DefaultLifetime time.Duration
	// ReconnectBackoff: after invalid_grant, the provider is not asked
	// again for this long (unless the passport changes). Default 15m.
	ReconnectBackoff time.Duration
	// RetryBase and RetryMax bound the backoff after a transient failure.
	// Defaults 2s and 5m.
	RetryBase, RetryMax time.Duration
	// PollInterval is how often a waiting replica re-reads the passport
	// while another holds the lease. Default 100ms.
	PollInterval time.Duration
	// Skew: a token is treated as expired this long before its expiry.
	Skew time.Duration
	// ForcedInterval is the least time between two refreshes of a token
	// that has not expired (forced by a provider's 401). Default 1m.
	ForcedInterval time.Duration
	// Holder names this replica in leases; default random.
	Holder string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Dial connects to token, profile and revocation endpoints: the
	// egress policy's dialer, so every request widgetgate makes on a
	// provider's behalf obeys one policy. Default a plain dialer (tests).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// RootCAs replaces the system roots for those endpoints (the upstream
	// ca_cert); nil means the system roots.
	RootCAs *x509.CertPool
	// HTTPClient calls token endpoints; default one built from Dial and
	// RootCAs, with no proxy and no redirects.
	HTTPClient *http.Client
	// Refreshed, when set, is told of every passport this replica
	// refreshed or marked reconnect_required (the cache stores it, so
	// calls use the new token, or stop using the passport, at once).
	Refreshed func(*passport.Passport)
	// OnStatusChange, when set, is told each time this replica changed a
	// passport's status in Vault: to reconnect_required when the provider
	// refused its refresh token, and back to active when a later
	// redemption worked. It is called after the write succeeded and only
	// when previous differs from p.Status, so it fires once per
	// transition, on the one replica holding the lease (operator
	// webhooks: one notification per fleet). reason is in words, without
	// tokens or the provider's body. It runs on the refresh path and must
	// not block (webhook.Notifier.Notify does not).
	OnStatusChange func(p *passport.Passport, previous, reason string)
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.LeaseTTL, 15*time.Second)
	def(&c.TokenTimeout, 10*time.Second)
	def(&c.AnswerTimeout, 2*time.Minute)
	def(&c.DefaultLifetime, time.Hour)
	def(&c.ReconnectBackoff, 15*time.Minute)
	def(&c.RetryBase, 2*time.Second)
	def(&c.RetryMax, 5*time.Minute)
	def(&c.PollInterval, 100*time.Millisecond)
	def(&c.ForcedInterval, time.Minute)
	if c.Holder == "" {
		b := make([]byte, 8)
		rand.Read(b)
		c.Holder = hex.EncodeToString(b)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			// No overall Timeout: redeem bounds sending with TokenTimeout
			// and the answer with AnswerTimeout.
			Transport: &http.Transport{
				Proxy:                 nil,
				DialContext:           c.Dial,
				TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.RootCAs},
				TLSHandshakeTimeout:   5 * time.Second,
				ResponseHeaderTimeout: c.AnswerTimeout,
				MaxIdleConnsPerHost:   4,
				IdleConnTimeout:       90 * time.Second,
				ForceAttemptHTTP2:     true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
}

// Lookup finds the provider of a passport ("google", "custom:x").
type Lookup func(name string) (*provider.Provider, bool)

// Refresher refreshes passports. It is safe for concurrent use.
type Refresher struct {
	store  Store
	lookup Lookup
	cfg    Config
	// detached carries the values of New's ctx but is not cancelled with
	// it: what runs on it (a redemption sent, its write to Vault) must
	// finish even after the app is cleaned up. Only kill (tests: the
	// process dying) ends it.
	detached context.Context
	kill     context.CancelFunc
	flight   singleflight.Group
	inflight inflight // redemptions and write-backs not finished yet

	scanMu sync.Mutex           // one scan at a time
	next   map[string]time.Time // when each passport not due at the last scan becomes due

	mu      sync.Mutex
	backoff map[string]backoffState
	pending map[string]*passport.Passport // refreshed, not yet written to Vault
	creds   map[string]cachedCreds
}

type backoffState struct {
	until    time.Time
	failures int
	reason   string
	rt       string // the refresh token that failed: a new one (a reconnect) is tried at once
}

type cachedCreds struct {
	c       vaultstore.Credentials
	fetched time.Time
}

// New returns a refresher. A refresh, once begun, outlives its callers
// and ctx, whose values it keeps (see the package comment); the
// background scan runs on the context given to Run.
func New(ctx context.Context, store Store, lookup Lookup, cfg Config) *Refresher {
	cfg.defaults()
	detached, kill := context.WithCancel(context.WithoutCancel(ctx))
	return &Refresher{store: store, lookup: lookup, cfg: cfg, detached: detached, kill: kill,
		backoff: map[string]backoffState{}, pending: map[string]*passport.Passport{}, creds: map[string]cachedCreds{}}
}

// Drain waits until every redemption sent and every write-back of its
// tokens has finished, or ctx ends (it then says how many did not).
// Shutdown calls it so a rotated refresh token reaches Vault first.
func (r *Refresher) Drain(ctx context.Context) error {
	return r.inflight.wait(ctx)
}

// HTTPClient returns the client used for token endpoints (timeouts, no
// proxy, no redirects), for other calls to the same providers.
func (r *Refresher) HTTPClient() *http.Client { return r.cfg.HTTPClient }

// Shutdown lets the redemptions in flight finish, then calls then (which
// stops what they need, such as the Vault login). With wait, it returns
// only after that, at most AnswerTimeout (+5 s) later, logging the
// refreshes it had to give up on: the process is about to exit. Without,
// it returns at once and they finish in the background (a reload).
func (r *Refresher) Shutdown(wait bool, then func()) {
	drain := func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AnswerTimeout+5*time.Second)
		defer cancel()
		if err := r.Drain(ctx); err != nil {
			r.cfg.Logger.Error("stopping before token refreshes finished: their passports may need reconnecting", "error", err)
		}
		then()
	}
	if wait {
		drain()
	} else {
		go drain()
	}
}

// Holder returns this replica's lease holder id.
func (r *Refresher) Holder() string { return r.cfg.Holder }

// Refresh returns passport stale.ID with an access token other than
// stale's, refreshing it at the provider unless another replica already
// did. Concurrent calls for one passport share one refresh; each caller
// waits at most until its own ctx ends. A refresh of a token that has not
// expired is forced (the provider refused the token): it is refused with
// ErrRecentlyRefreshed within ForcedInterval of the last refresh.
func (r *Refresher) Refresh(ctx context.Context, stale *passport.Passport) (*passport.Passport, error) {
	return r.refreshShared(ctx, stale, !stale.Expired(r.cfg.Now(), r.cfg.Skew))
}

// refreshShared is Refresh with forced said by the caller: the scan's
// refreshes before expiry are due, not forced.
func (r *Refresher) refreshShared(ctx context.Context, stale *passport.Passport, forced bool) (*passport.Passport, error) {
	if _, err := r.policy(stale); err != nil {
		return nil, err
	}
	if forced && r.recentlyRefreshed(stale) {
		return nil, fmt.Errorf("%w: passport %s at %s", ErrRecentlyRefreshed, stale.ID, stale.LastRefresh.Format(time.RFC3339))
	}
	ch := r.flight.DoChan(stale.ID, func() (any, error) {
		// Bound waiting out a dead holder's lease; our own redemption has
		// a deadline of its own (holdAndRedeem). Detached: a reload must
		// not drop callers of the old app that wait for it.
		ctx, cancel := context.WithTimeout(r.detached, 2*(r.cfg.LeaseTTL+r.cfg.TokenTimeout))
		defer cancel()
		return r.refresh(ctx, stale.ID, stale.AccessToken, forced)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*passport.Passport), nil
	}
}

// policy returns the refresh policy of p's provider, or ErrNotRefreshable.
func (r *Refresher) policy(p *passport.Passport) (provider.RefreshPolicy, error) {
	prov, ok := r.lookup(p.Provider)
	switch {
	case !ok:
		return provider.RefreshPolicy{}, fmt.Errorf("%w: unknown provider %q", ErrNotRefreshable, p.Provider)
	case prov.Refresh.Type == provider.RefreshNone:
		return prov.Refresh, fmt.Errorf("%w: provider %q has refresh type none", ErrNotRefreshable, p.Provider)
	case p.RefreshToken == "":
		return prov.Refresh, fmt.Errorf("%w: passport %s has no refresh token", ErrNotRefreshable, p.ID)
	}
	return prov.Refresh, nil
}

// recentlyRefreshed reports whether p was refreshed within ForcedInterval.
// LastRefresh is stored in Vault, so every replica sees the same answer.
func (r *Refresher) recentlyRefreshed(p *passport.Passport) bool {
	return !p.LastRefresh.IsZero() && r.cfg.Now().Sub(p.LastRefresh) < r.cfg.ForcedInterval
}

// fresh reports whether p carries a usable token other than staleToken.
func (r *Refresher) fresh(p *passport.Passport, staleToken string) bool {
	return p.Active() && p.AccessToken != staleToken && !p.Expired(r.cfg.Now(), r.cfg.Skew)
}

func (r *Refresher) refresh(ctx context.Context, id, staleToken string, forced bool) (*passport.Passport, error) {
	if p := r.pendingPassport(id); p != nil && r.fresh(p, staleToken) {
		return p, nil
	}
	for {
		rec, err := r.store.PassportRecord(ctx, id)
		if err != nil {
			return nil, err
		}
		p := rec.Passport
		if r.fresh(p, staleToken) {
			return p, nil
		}
		if err := r.mayRedeem(p, forced); err != nil {
			return nil, err
		}
		lease, err := r.store.Lease(ctx, id)
		if err != nil {
			return nil, err
		}
		if lease.Held(r.cfg.Now()) && lease.Holder != r.cfg.Holder {
			if err := r.wait(ctx); err != nil {
				return nil, err
			}
			continue
		}
		lease, err = r.store.PutLease(ctx, id, lease, r.cfg.Holder, r.cfg.Now().Add(r.cfg.LeaseTTL))
		if errors.Is(err, vaultstore.ErrConflict) {
			if err := r.wait(ctx); err != nil { // another replica took it first
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return r.holdAndRedeem(id, staleToken, forced, lease)
	}
}

// mayRedeem says whether p's refresh token may be sent to the provider now.
func (r *Refresher) mayRedeem(p *passport.Passport, forced bool) error {
	now := r.cfg.Now()
	if forced && r.recentlyRefreshed(p) {
		return fmt.Errorf("%w: passport %s at %s", ErrRecentlyRefreshed, p.ID, p.LastRefresh.Format(time.RFC3339))
	}
	switch p.Status {
	case passport.StatusActive:
	case passport.StatusReconnectRequired:
		if now.Before(p.RetryAfter) {
			return fmt.Errorf("%w: passport %s (retry after %s)", ErrReconnectRequired, p.ID, p.RetryAfter.Format(time.RFC3339))
		}
	default:
		return fmt.Errorf("%w: passport %s is %s", passport.ErrInactive, p.ID, p.Status)
	}
	r.mu.Lock()
	b := r.backoff[p.ID]
	r.mu.Unlock()
	if b.rt == p.RefreshToken && now.Before(b.until) {
		return fmt.Errorf("%w: passport %s: %s (backing off until %s)", ErrFailed, p.ID, b.reason, b.until.Format(time.RFC3339))
	}
	return nil
}

func (r *Refresher) wait(ctx context.Context) error {
	t := time.NewTimer(r.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for another replica's refresh: %w", ErrFailed, ctx.Err())
	case <-t.C:
		return nil
	}
}

// holdAndRedeem runs steps 4–7 of the protocol with the lease held. It
// runs to its end on its own deadline, whatever the time already spent
// waiting for the lease: from here the refresh token may be sent.
func (r *Refresher) holdAndRedeem(id, staleToken string, forced bool, lease vaultstore.Lease) (*passport.Passport, error) {
	ctx, cancel := context.WithTimeout(r.detached, 4*r.cfg.TokenTimeout+r.cfg.AnswerTimeout)
	defer cancel()
	// Renewed on the refresher's own context: when Vault does not take the
	// redeemed tokens, the write-back takes the lease over (keepPending),
	// and keeps it until they are stored.
	h := r.hold(r.detached, id, lease)
	defer func() {
		if !h.handedOff {
			h.release()
		}
	}()

	rec, err := r.store.PassportRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.fresh(rec.Passport, staleToken) {
		return rec.Passport, nil
	}
	if err := r.mayRedeem(rec.Passport, forced); err != nil {
		return nil, err
	}
	// From here on the refresh token may reach the provider: count it
	// until its answer is handled, so shutdown waits for it.
	r.inflight.add()
	defer r.inflight.done()
	tok, err := r.redeem(ctx, rec.Passport)
	if err != nil {
		return r.failed(ctx, rec, staleToken, err)
	}
	return r.save(ctx, rec, tok, h)
}

// redeem exchanges p's refresh token at its provider.
func (r *Refresher) redeem(ctx context.Context, p *passport.Passport) (*oauth2.Token, error) {
	prov, ok := r.lookup(p.Provider)
	if !ok {
		return nil, fmt.Errorf("%w: unknown provider %q", ErrNotRefreshable, p.Provider)
	}
	ctx, cancel := r.sendBound(ctx)
	defer cancel()
	proto, ok := prov.Protocol()
	if !ok {
		// The only unmanaged provider (Tableau) has no token URL either.
		return nil, fmt.Errorf("%w: provider %q has no token URL", ErrNotRefreshable, prov.Name)
	}
	creds := func(ctx context.Context) (provider.Credentials, error) {
		c, err := r.Credentials(ctx, prov)
		return provider.Credentials(c), err
	}
	ts, err := proto.TokenSource(ctx, r.cfg.HTTPClient, provider.Grant{Passport: p.ID, RefreshToken: p.RefreshToken,
		SubjectID: p.SubjectID, InstanceURL: p.InstanceURL}, creds)
	if err != nil {
		return nil, err
	}
	return ts.Token()
}

// Credentials returns a provider's client credentials: from the bundled
// passport (a Vault reference, or a literal already imported to Vault), or
// from <prefix>/providers/<name>. Cached for a few minutes.
func (r *Refresher) Credentials(ctx context.Context, prov *provider.Provider) (vaultstore.Credentials, error) {
	r.mu.Lock()
	cc, ok := r.creds[prov.Name]
	r.mu.Unlock()
	if ok && r.cfg.Now().Sub(cc.fetched) < 5*time.Minute {
		return cc.c, nil
	}
	var c vaultstore.Credentials
	var err error
	switch {
	case prov.ClientSecretRef != "":
		c.ClientID = prov.ClientID
		path, field, serr := provider.SplitSecretRef(prov.ClientSecretRef)
		if serr == nil {
			c.ClientSecret, serr = r.store.ProviderSecret(ctx, path, field)
		}
		if errors.Is(serr, vaultstore.ErrRefNotAllowed) {
			serr = fmt.Errorf("%w: provider %q: %w", ErrFailed, prov.Name, serr)
		}
		err = serr
	default:
		c, err = r.store.ProviderCredentials(ctx, prov.Name)
		if errors.Is(err, passport.ErrNotFound) && prov.ClientSecret != "" {
			c, err = vaultstore.Credentials{ClientID: prov.ClientID, ClientSecret: prov.ClientSecret}, nil
		}
		if c.ClientID == "" {
			c.ClientID = prov.ClientID
		}
	}
	if errors.Is(err, passport.ErrNotFound) {
		return c, fmt.Errorf("%w: no client credentials for provider %q in Vault", ErrFailed, prov.Name)
	}
	if err != nil {
		return c, err
	}
	r.mu.Lock()
	r.creds[prov.Name] = cachedCreds{c: c, fetched: r.cfg.Now()}
	r.mu.Unlock()
	return c, nil
}

// save writes the redeemed tokens with check-and-set. A lost race with a
// write that kept the redeemed refresh token (an administrator editing
// another field) is retried; a write that replaced it (a reconnect) wins.
// If Vault cannot take the write, the tokens are kept in memory and
// written back in the background: a rotated refresh token is never lost.
func (r *Refresher) save(ctx context.Context, rec *vaultstore.Record, tok *oauth2.Token, h *heldLease) (*passport.Passport, error) {
	now := r.cfg.Now()
	redeemed := rec.Passport.RefreshToken
	changes := r.changes(rec.Passport, tok, now)
	for range 5 {
		next, err := r.store.UpdatePassport(ctx, rec, changes)
		if err == nil {
			r.clearFailure(rec.Passport.ID)
			if r.cfg.Refreshed != nil {
				r.cfg.Refreshed(next.Passport)
			}
			r.statusChanged(rec.Passport, next.Passport, reasonAccepted)
			r.cfg.Logger.Info("passport refreshed", "passport", rec.Passport.ID, "provider", rec.Passport.Provider,
				"expiry", next.Passport.Expiry.Format(time.RFC3339))
			return next.Passport, nil
		}
		if !errors.Is(err, vaultstore.ErrConflict) {
			return r.keepPending(rec, changes, err, h), nil
		}
		if rec, err = r.store.PassportRecord(ctx, rec.Passport.ID); err != nil {
			return r.keepPending(rec, changes, err, h), nil
		}
		if rec.Passport.RefreshToken != redeemed {
			r.cfg.Logger.Warn("passport changed during refresh; keeping the newer tokens", "passport", rec.Passport.ID)
			return rec.Passport, nil
		}
	}
	return nil, fmt.Errorf("%w: passport %s kept changing while its new token was written", ErrFailed, rec.Passport.ID)
}

func (r *Refresher) changes(old *passport.Passport, tok *oauth2.Token, now time.Time) map[string]string {
	// Count the lifetime from our clock: oauth2 fills Expiry from the
	// wall clock, and every expiry decision here uses cfg.Now.
	var expiry time.Time
	switch {
	case tok.ExpiresIn > 0:
		expiry = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	case !tok.Expiry.IsZero():
		expiry = tok.Expiry
	default:
		expiry = now.Add(r.cfg.DefaultLifetime) // never "valid forever"
	}
	rt := tok.RefreshToken
	if rt == "" {
		rt = old.RefreshToken // providers that do not rotate keep the old one
	}
	tt := tok.TokenType
	if tt == "" {
		tt = "Bearer"
	}
	return map[string]string{
		"access_token": tok.AccessToken, "token_type": tt, "refresh_token": rt,
		"expiry": expiry.UTC().Format(time.RFC3339), "last_refresh": now.UTC().Format(time.RFC3339),
		"status": passport.StatusActive, "last_error": "", "retry_after": "",
	}
}

// keepPending holds refreshed tokens that Vault did not take, serves them
// from memory, and writes them back with backoff until Vault takes them.
// The lease h stays held (and renewed) until then: another replica would
// otherwise redeem the refresh token Vault still holds, which the provider
// has rotated away.
func (r *Refresher) keepPending(rec *vaultstore.Record, changes map[string]string, cause error, h *heldLease) *passport.Passport {
	p := *rec.Passport
	p.AccessToken, p.TokenType, p.RefreshToken = changes["access_token"], changes["token_type"], changes["refresh_token"]
	p.Expiry, _ = time.Parse(time.RFC3339, changes["expiry"])
	p.Status = passport.StatusActive
	r.mu.Lock()
	r.pending[p.ID] = &p
	r.mu.Unlock()
	r.cfg.Logger.Error("REFRESHED TOKENS NOT SAVED TO VAULT: holding them in memory and retrying; "+
		"if this process stops first, the passport must be reconnected", "passport", p.ID, "error", cause)
	r.inflight.add()
	h.handedOff = true
	go r.writeBack(rec.Passport.ID, changes, h)
	return &p
}

// writeBack retries until Vault takes the tokens. It outlives a reload
// (the old refresher is the only holder of them); at shutdown, Drain
// waits for it, bounded.
func (r *Refresher) writeBack(id string, changes map[string]string, h *heldLease) {
	defer r.inflight.done()
	defer h.release()
	delay := r.cfg.RetryBase
	for {
		time.Sleep(delay)
		ctx, cancel := context.WithTimeout(r.detached, r.cfg.TokenTimeout)
		rec, err := r.store.PassportRecord(ctx, id)
		var next *vaultstore.Record
		if err == nil {
			next, err = r.store.UpdatePassport(ctx, rec, changes)
		}
		cancel()
		if err == nil {
			r.mu.Lock()
			delete(r.pending, id)
			r.mu.Unlock()
			r.cfg.Logger.Warn("refreshed tokens saved to Vault after retrying", "passport", id)
			// Only now is the passport active in Vault for every replica.
			r.statusChanged(rec.Passport, next.Passport, reasonAccepted)
			return
		}
		delay = min(2*delay, r.cfg.RetryMax)
	}
}

func (r *Refresher) pendingPassport(id string) *passport.Passport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[id]
}

// failed handles a refused or failed redemption.
func (r *Refresher) failed(ctx context.Context, rec *vaultstore.Record, staleToken string, err error) (*passport.Passport, error) {
	id := rec.Passport.ID
	reason := provider.Describe(err)
	switch provider.Classify(err) {
	case provider.FailureInvalidGrant:
		// Another replica may have redeemed it in a race we lost: re-read once.
		if again, rerr := r.store.PassportRecord(ctx, id); rerr == nil && r.fresh(again.Passport, staleToken) {
			return again.Passport, nil
		} else if rerr == nil {
			rec = again
		}
		retry := r.cfg.Now().Add(r.cfg.ReconnectBackoff)
		next, werr := r.store.UpdatePassport(ctx, rec, map[string]string{
			"status": passport.StatusReconnectRequired, "last_error": "invalid_grant",
			"retry_after": retry.UTC().Format(time.RFC3339),
		})
		if werr == nil && r.cfg.Refreshed != nil {
			// The cache must stop serving the passport (and what was
			// fetched with it) now, not when its copy next goes stale.
			r.cfg.Refreshed(next.Passport)
		}
		if werr == nil && !connecting(rec.Passport) {
			r.statusChanged(rec.Passport, next.Passport, "the provider refused the refresh token ("+reason+")")
		}
		r.setFailure(rec.Passport, "invalid_grant", r.cfg.ReconnectBackoff)
		r.cfg.Logger.Warn("refresh token refused: passport needs reconnecting", "passport", id, "provider", rec.Passport.Provider,
			"reason", reason, "write_error", werr)
		return nil, fmt.Errorf("%w: passport %s: %s", ErrReconnectRequired, id, reason)
	default:
		d := r.setFailure(rec.Passport, reason, 0)
		r.cfg.Logger.Warn("token refresh failed; backing off", "passport", id, "provider", rec.Passport.Provider,
			"reason", reason, "retry_in", d.String())
		return nil, fmt.Errorf("%w: passport %s: %s", ErrFailed, id, reason)
	}
}

// setFailure records a failure and returns the backoff chosen: fixed when
// d > 0, else exponential with jitter.
func (r *Refresher) setFailure(p *passport.Passport, reason string, d time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.backoff[p.ID]
	if b.rt != p.RefreshToken {
		b = backoffState{rt: p.RefreshToken}
	}
	b.failures++
	if d <= 0 {
		d = r.cfg.RetryBase << min(b.failures-1, 20)
		d = min(d, r.cfg.RetryMax)
		d = time.Duration(float64(d) * (0.5 + mrand.Float64())) // jitter: replicas do not retry in step
	}
	b.until, b.reason = r.cfg.Now().Add(d), reason
	r.backoff[p.ID] = b
	return d
}

func (r *Refresher) clearFailure(id string) {
	r.mu.Lock()
	delete(r.backoff, id)
	r.mu.Unlock()
}
