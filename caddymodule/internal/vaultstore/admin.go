package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// CreatePassport writes a new passport record; ErrConflict if the id is taken.
func (s *Store) CreatePassport(ctx context.Context, id string, data map[string]any) (*Record, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("passport id %q is not valid", id)
	}
	version, err := s.put(ctx, s.prefix+"/passports/"+id, data, 0)
	if err != nil {
		return nil, err
	}
	return newRecord(id, data, version)
}

// DeletePassport removes a passport and all its versions.
func (s *Store) DeletePassport(ctx context.Context, id string) error {
	return s.deleteAll(ctx, s.prefix+"/passports/"+id)
}

func (s *Store) deleteAll(ctx context.Context, path string) error {
	err := s.authorized(ctx, func() error { return s.kv.DeleteMetadata(ctx, path) })
	if err != nil && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: deleting %s: %s", ErrUnavailable, path, describe(err))
	}
	return err
}

// list lists the secrets under <prefix>/<dir>.
func (s *Store) list(ctx context.Context, dir string) ([]string, error) {
	return s.listKeys(ctx, dir, false)
}

// listKeys lists the secrets under <prefix>/<dir>, or its sub-folders
// (without their trailing "/").
func (s *Store) listKeys(ctx context.Context, dir string, folders bool) ([]string, error) {
	var keys []string
	err := s.authorized(ctx, func() (err error) {
		keys, err = s.kv.List(ctx, s.prefix+"/"+dir)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: listing %s: %s", ErrUnavailable, dir, describe(err))
	}
	if keys == nil {
		return nil, nil
	}
	ids := make([]string, 0, len(keys))
	for _, id := range keys {
		id, isFolder := strings.CutSuffix(id, "/")
		if isFolder == folders && ValidID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ListInstances lists the instance ids that have bindings or a
// configuration in Vault, sorted.
func (s *Store) ListInstances(ctx context.Context) ([]string, error) {
	ids, err := s.list(ctx, "bindings")
	if err != nil {
		return nil, err
	}
	configured, err := s.listKeys(ctx, "config", true)
	if err != nil {
		return nil, err
	}
	for _, id := range configured {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// PutBindings replaces the bindings of instance.
func (s *Store) PutBindings(ctx context.Context, instance string, b passport.Bindings) error {
	if !ValidID(instance) {
		return fmt.Errorf("instance id %q is not valid", instance)
	}
	data := make(map[string]any, len(b))
	for k, v := range b {
		data[k] = v
	}
	err := s.authorized(ctx, func() error {
		_, err := s.kv.Put(ctx, s.prefix+"/bindings/"+instance, data)
		return err
	})
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: writing bindings of %s: %s", ErrUnavailable, instance, describe(err))
	}
	return nil
}

// OAuthState is a pending connect flow, kept in Vault so the callback may
// reach any replica.
type OAuthState struct {
	Passport string
	Verifier string // PKCE code verifier; never leaves Vault and this process
	Expires  time.Time
}

// PutOAuthState stores a new flow state under its (random) key.
func (s *Store) PutOAuthState(ctx context.Context, key string, st OAuthState) error {
	_, err := s.put(ctx, s.prefix+"/oauth-states/"+key, map[string]any{
		"passport": st.Passport, "verifier": st.Verifier, "expires": st.Expires.UTC().Format(time.RFC3339),
	}, 0)
	return err
}

// ErrStateInvalid: the state is unknown, already used, or expired.
var ErrStateInvalid = errors.New("unknown, used or expired state")

// ClaimOAuthState returns the flow state of key and makes sure no one can
// use it again: it is marked used with check-and-set (two replicas racing
// on one callback cannot both win), then deleted.
func (s *Store) ClaimOAuthState(ctx context.Context, key string, now time.Time) (OAuthState, error) {
	path := s.prefix + "/oauth-states/" + key
	if !ValidID(key) {
		return OAuthState{}, ErrStateInvalid
	}
	data, version, err := s.getVersioned(ctx, path)
	if errors.Is(err, passport.ErrNotFound) {
		return OAuthState{}, ErrStateInvalid
	}
	if err != nil {
		return OAuthState{}, err
	}
	if str(data, "used") != "" {
		return OAuthState{}, ErrStateInvalid
	}
	claimed := map[string]any{"used": now.UTC().Format(time.RFC3339)}
	for k, v := range data {
		claimed[k] = v
	}
	if _, err := s.put(ctx, path, claimed, version); err != nil {
		if errors.Is(err, ErrConflict) {
			return OAuthState{}, ErrStateInvalid
		}
		return OAuthState{}, err
	}
	s.deleteAll(ctx, path) // best effort: a used state is harmless
	st := OAuthState{Passport: str(data, "passport"), Verifier: str(data, "verifier")}
	st.Expires, _ = time.Parse(time.RFC3339, str(data, "expires"))
	if !now.Before(st.Expires) {
		return OAuthState{}, ErrStateInvalid
	}
	return st, nil
}

// AdminToken reads the admin API's bearer token, <prefix>/admin (field token).
func (s *Store) AdminToken(ctx context.Context) (string, error) {
	data, err := s.get(ctx, s.prefix+"/admin")
	if err != nil {
		return "", err
	}
	return str(data, "token"), nil
}

// WebhookKey reads the key operator webhooks are signed with,
// <prefix>/webhook (field signing_key).
func (s *Store) WebhookKey(ctx context.Context) ([]byte, error) {
	data, err := s.get(ctx, s.prefix+"/webhook")
	if err != nil {
		return nil, err
	}
	key := str(data, "signing_key")
	if len(key) < 16 {
		return nil, fmt.Errorf("%s/webhook: signing_key must be at least 16 bytes", s.prefix)
	}
	return []byte(key), nil
}
