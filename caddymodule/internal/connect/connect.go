// Package connect runs the administrator's side of a passport: creating
// it, the OAuth 2.0 authorization-code flow (with PKCE) that connects it,
// the profile lookup that names the connected account, connecting with
// pasted credentials (passports.go), and disconnecting. Flow state lives
// in Vault, so the provider's callback may reach any replica.
package connect

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ohler55/ojg/jp"
	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// Error is a failed step explained for an administrator. Reason is a short
// machine-readable code stored as the passport's last_error.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Flow connects and disconnects passports.
type Flow struct {
	Store       Store
	Lookup      func(name string) (*provider.Provider, bool)
	Credentials func(ctx context.Context, p *provider.Provider) (vaultstore.Credentials, error)
	// RedirectURL is the public callback URL registered at providers.
	RedirectURL string
	// HTTPClient calls token, profile and revocation endpoints.
	HTTPClient *http.Client
	// DefaultLifetime is given to tokens without expires_in.
	DefaultLifetime time.Duration
	// Refresh redeems a passport's refresh token: ConnectPasted checks
	// pasted credentials with it.
	Refresh func(ctx context.Context, p *passport.Passport) (*passport.Passport, error)
	Now     func() time.Time
	// OnStatusChange, when set, is told when Finish or ConnectPasted makes
	// active a passport that was reconnect_required (operator webhooks:
	// the trouble they were told of is over). It is called after Vault
	// took the connected passport, with that passport, the previous status
	// and a reason in words. Connecting a passport that was inactive is an
	// administrator's routine, not news, and is not told. It must not
	// block (webhook.Notifier.Notify does not).
	OnStatusChange func(p *passport.Passport, previous, reason string)
}

// StateTTL is how long an administrator has to finish a connect.
const StateTTL = 10 * time.Minute

func (f *Flow) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// oauthProvider returns p's provider and client config, or an Error.
func (f *Flow) oauthProvider(ctx context.Context, p *passport.Passport) (*provider.Provider, *oauth2.Config, error) {
	prov, ok := f.Lookup(p.Provider)
	if !ok {
		return nil, nil, &Error{"unknown_provider", fmt.Sprintf("The passport's provider %q is not known to this widgetgate.", p.Provider)}
	}
	if proto, ok := prov.Protocol(); !ok || proto.Connect() != provider.ConnectRedirect || prov.AuthURL == "" || prov.TokenURL == "" {
		return nil, nil, &Error{"not_oauth", fmt.Sprintf("Provider %q is not connected with an OAuth sign-in.", p.Provider)}
	}
	creds, err := f.Credentials(ctx, prov)
	if err != nil || creds.ClientID == "" {
		return nil, nil, &Error{"no_client_credentials", fmt.Sprintf("No OAuth client id and secret are configured for %q: store them in Vault at providers/%s.", prov.Name, prov.Name)}
	}
	return prov, &oauth2.Config{
		ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, RedirectURL: f.RedirectURL,
		Endpoint: oauth2.Endpoint{AuthURL: prov.AuthURL, TokenURL: prov.TokenURL, AuthStyle: prov.AuthStyle},
	}, nil
}

// Start begins connecting passport p: it stores a single-use state with
// the PKCE verifier in Vault and returns the provider's authorization URL.
func (f *Flow) Start(ctx context.Context, p *passport.Passport) (string, error) {
	prov, conf, err := f.oauthProvider(ctx, p)
	if err != nil {
		return "", err
	}
	state := randomHex(32)
	verifier := oauth2.GenerateVerifier()
	if err := f.Store.PutOAuthState(ctx, state, vaultstore.OAuthState{Passport: p.ID, Verifier: verifier, Expires: f.now().Add(StateTTL)}); err != nil {
		return "", err
	}
	var opts []oauth2.AuthCodeOption
	if prov.PKCE {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	if len(prov.Scopes) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("scope", strings.Join(prov.Scopes, prov.ScopeSeparator)))
	}
	for k, v := range prov.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	return mapParams(conf.AuthCodeURL(state, opts...), prov.ParamsMapper)
}

// mapParams renames the authorization URL's query parameters as the
// passport's Authentication Params Mapper says ({"client_id": "app_id"}).
func mapParams(raw string, mapper map[string]string) (string, error) {
	if len(mapper) == 0 {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	q := u.Query()
	for from, to := range mapper {
		if vs, ok := q[from]; ok {
			delete(q, from)
			q[to] = vs
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Finish completes a flow from the provider's callback query. It returns
// the passport connected, or an Error saying why not; a refused or failed
// flow leaves the passport inactive with the reason.
func (f *Flow) Finish(ctx context.Context, query url.Values) (*passport.Passport, error) {
	st, err := f.Store.ClaimOAuthState(ctx, query.Get("state"), f.now())
	if errors.Is(err, vaultstore.ErrStateInvalid) {
		return nil, &Error{"invalid_state", "This sign-in link is unknown, has expired or was already used. Nothing was changed: start again from the passports page."}
	}
	if err != nil {
		return nil, err
	}
	rec, err := f.Store.PassportRecord(ctx, st.Passport)
	if err != nil {
		return nil, &Error{"unknown_passport", "The passport this sign-in was for no longer exists."}
	}
	if e := query.Get("error"); e != "" {
		if !errorCode.MatchString(e) { // RFC 6749 codes are short ASCII words; keep junk out of Vault and the page
			e = "provider_error"
		}
		why := "The provider did not grant access"
		if e == "access_denied" {
			why = "Access was denied at the provider (the Deny button, or a cancelled sign-in)"
		}
		return nil, f.fail(ctx, rec, e, fmt.Sprintf("%s: %s. The passport was not changed.", why, e))
	}
	prov, conf, err := f.oauthProvider(ctx, rec.Passport)
	if err != nil {
		return nil, f.fail(ctx, rec, err.(*Error).Reason, err.Error())
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, f.HTTPClient), query.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return nil, f.fail(ctx, rec, "token_exchange_failed", "The provider refused to exchange the sign-in code: "+provider.Describe(err)+".")
	}
	for _, field := range prov.RequiredMetadata {
		if v := tok.Extra(field); v == nil || v == "" {
			return nil, f.fail(ctx, rec, "missing_metadata", fmt.Sprintf("The provider's answer lacks the required field %q; the passport was not changed.", field))
		}
	}
	account, err := f.profile(ctx, prov, tok)
	if err != nil {
		return nil, f.fail(ctx, rec, "profile_failed", "The connected account's profile could not be read: "+err.Error()+".")
	}
	now := f.now()
	expiry := now.Add(f.DefaultLifetime)
	if tok.ExpiresIn > 0 {
		expiry = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	tt := tok.TokenType
	if tt == "" {
		tt = "Bearer"
	}
	scope, _ := tok.Extra("scope").(string)
	next, err := f.Store.UpdatePassport(ctx, rec, map[string]string{
		"status": passport.StatusActive, "access_token": tok.AccessToken, "refresh_token": tok.RefreshToken,
		"token_type": tt, "expiry": expiry.UTC().Format(time.RFC3339), "last_refresh": now.UTC().Format(time.RFC3339),
		"connected_at": now.UTC().Format(time.RFC3339Nano), "last_error": "", "retry_after": "", "scope": scope,
		"account_email": account.Email, "account_id": account.ID, "account_name": account.Name,
	})
	if err != nil {
		return nil, err
	}
	f.reconnected(rec.Passport.Status, next.Passport, "an administrator reconnected the passport through the provider's sign-in")
	return next.Passport, nil
}

// reconnected tells OnStatusChange that p, previously previous, is active
// again, if it was reconnect_required.
func (f *Flow) reconnected(previous string, p *passport.Passport, reason string) {
	if f.OnStatusChange == nil || previous != passport.StatusReconnectRequired || p.Status != passport.StatusActive {
		return
	}
	f.OnStatusChange(p, previous, reason)
}

// fail records why a flow failed on the passport (last_error) and returns
// the Error to show. A failed sign-in leaves the tokens alone, so it
// leaves the status alone too: an active passport keeps serving, and one
// that needs reconnecting still does, so its banner stays and the
// reconnect that works later is reported as the recovery (a
// passport.active event). Only a passport in no known state becomes
// inactive.
func (f *Flow) fail(ctx context.Context, rec *vaultstore.Record, reason, message string) error {
	changes := map[string]string{"last_error": reason}
	if s := rec.Passport.Status; s != passport.StatusActive && s != passport.StatusReconnectRequired {
		changes["status"] = passport.StatusInactive
	}
	f.Store.UpdatePassport(ctx, rec, changes)
	return &Error{reason, message}
}

var errorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// Account is who a passport is connected as.
type Account struct{ Email, ID, Name string }

// profile reads the connected account: from the ID token's claims, or from
// the profile URL, with the passport's JSONPath expressions and defaults.
func (f *Flow) profile(ctx context.Context, prov *provider.Provider, tok *oauth2.Token) (Account, error) {
	var doc any
	switch {
	case prov.ProfileFromIDToken:
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			return Account{}, errors.New("the token response has no id_token")
		}
		// The ID token came straight from the token endpoint over the
		// connection we opened: its claims need no signature check here
		// (OpenID Connect Core 3.1.3.7).
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
			return Account{}, fmt.Errorf("the id_token is not a JWT: %w", err)
		}
		doc = map[string]any(claims)
	case prov.ProfileURL != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, prov.ProfileURL, nil)
		if err != nil {
			return Account{}, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Accept", "application/json")
		resp, err := f.HTTPClient.Do(req)
		if err != nil {
			return Account{}, errors.New("the profile URL could not be reached")
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return Account{}, fmt.Errorf("the profile URL answered HTTP %d", resp.StatusCode)
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
			return Account{}, errors.New("the profile is not JSON")
		}
	}
	return Account{
		Email: pick(doc, prov.ProfileEmailPath, prov.DefaultEmail),
		ID:    pick(doc, prov.ProfileIDPath, prov.DefaultID),
		Name:  pick(doc, prov.ProfileNamePath, prov.DefaultName),
	}, nil
}

// compiled caches parsed JSONPath expressions: each is parsed once (and
// was validated when the passport file loaded).
var compiled sync.Map // string -> jp.Expr

// pick returns the first value path finds in doc as a string, or def.
func pick(doc any, path, def string) (out string) {
	if doc == nil || path == "" {
		return def
	}
	defer func() {
		if recover() != nil { // ojg can panic on odd filters; a profile must not crash the callback
			out = def
		}
	}()
	x, ok := compiled.Load(path)
	if !ok {
		e, err := jp.ParseString(path)
		if err != nil {
			return def
		}
		x, _ = compiled.LoadOrStore(path, e)
	}
	for _, v := range x.(jp.Expr).Get(doc) {
		switch v := v.(type) {
		case nil:
		case string:
			if v != "" {
				return v
			}
		case float64, int64, bool, json.Number:
			return fmt.Sprint(v)
		}
	}
	return def
}

// Disconnect revokes p's tokens at the provider where it has a revocation
// endpoint (RFC 7009), deletes them from Vault and marks p inactive. The
// passport and its bindings stay, so a reconnect serves the same widgets.
func (f *Flow) Disconnect(ctx context.Context, id string) (*passport.Passport, error) {
	rec, err := f.Store.PassportRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	revokeErr := f.revoke(ctx, rec.Passport)
	changes := map[string]string{"status": passport.StatusInactive, "access_token": "", "refresh_token": "", "expiry": "",
		"retry_after": "", "last_error": ""}
	if revokeErr != nil {
		changes["last_error"] = "revocation_failed"
	}
	next, err := f.Store.UpdatePassport(ctx, rec, changes)
	if err != nil {
		return nil, err
	}
	return next.Passport, nil
}

func (f *Flow) revoke(ctx context.Context, p *passport.Passport) error {
	prov, ok := f.Lookup(p.Provider)
	if !ok {
		return nil
	}
	proto, ok := prov.Protocol()
	if !ok || !proto.CanRevoke() {
		return nil
	}
	token, hint := p.RefreshToken, "refresh_token" // revoking it ends the whole grant
	if token == "" {
		token, hint = p.AccessToken, "access_token"
	}
	if token == "" {
		return nil
	}
	return proto.Revoke(ctx, f.HTTPClient, token, hint, func(ctx context.Context) (provider.Credentials, error) {
		c, err := f.Credentials(ctx, prov)
		return provider.Credentials(c), err
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
