// Package storetest is one conformance suite for every store backend, as
// oauth2-proxy's pkg/sessions/tests is for its session stores: the
// behaviours refresh, connect and the passport cache rely on, run against
// the in-memory store (memstore's tests) and the real Vault store
// (vaultstore's tests), so a unit test on the first means the same as an
// integration test on the second.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/caddymodule/internal/widgetcontext"
)

// Store is every method the suite exercises: what refresh, connect and
// the passport cache use, and what the admin API writes with.
type Store interface {
	refresh.Store
	connect.Store
	passport.Store
	CreatePassport(ctx context.Context, id string, data map[string]any) (*vaultstore.Record, error)
	PutProviderCredentials(ctx context.Context, name string, c vaultstore.Credentials) (bool, error)
	PutBindings(ctx context.Context, instance string, b passport.Bindings) error
	CheckProviderRef(path string) error
	widgetcontext.Store
	PutInstanceConfig(ctx context.Context, instance, widget string, values map[string]any, now time.Time) error
	DeleteInstanceConfig(ctx context.Context, instance, widget string) error
	ListInstances(ctx context.Context) ([]string, error)
}

// New returns an empty store whose data lives under prefix (the suite
// gives every case a prefix of its own, so one Vault serves them all).
type New func(t *testing.T, prefix string) Store

// at is the suite's clock: leases and flow states are judged against it.
var at = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	s      Store
	prefix string
	ctx    context.Context
}

// must fails the case on err.
func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// create stores passport id with data and returns its record.
func (f *fixture) create(id string, data map[string]any) *vaultstore.Record {
	f.t.Helper()
	rec, err := f.s.CreatePassport(f.ctx, id, data)
	f.must(err)
	return rec
}

var cases = []struct {
	name string
	run  func(f *fixture)
}{
	{"read missing passport", func(f *fixture) {
		for _, id := range []string{"nobody", "../escape", ""} {
			if _, err := f.s.PassportRecord(f.ctx, id); !errors.Is(err, passport.ErrNotFound) {
				f.t.Errorf("PassportRecord(%q) = %v, want ErrNotFound", id, err)
			}
			if _, err := f.s.Passport(f.ctx, id); !errors.Is(err, passport.ErrNotFound) {
				f.t.Errorf("Passport(%q) = %v, want ErrNotFound", id, err)
			}
		}
	}},
	{"create and read", func(f *fixture) {
		expiry := at.Add(time.Hour)
		created := f.create("pp", map[string]any{"provider": "google", "status": passport.StatusActive,
			"access_token": "at-1", "refresh_token": "rt-1\n", "expiry": expiry.Format(time.RFC3339), "extra": "kept"})
		rec, err := f.s.PassportRecord(f.ctx, "pp")
		f.must(err)
		p := rec.Passport
		if rec.Version != created.Version || p.Version != rec.Version || rec.Version < 1 {
			f.t.Errorf("versions: created %d, read %d (passport %d)", created.Version, rec.Version, p.Version)
		}
		if p.ID != "pp" || p.Provider != "google" || !p.Active() || p.AccessToken != "at-1" || p.RefreshToken != "rt-1" || !p.Expiry.Equal(expiry) {
			f.t.Errorf("passport = %+v", p)
		}
		if rec.Data["extra"] != "kept" {
			f.t.Errorf("Data = %v, want unknown fields kept", rec.Data)
		}
		if _, err := f.s.CreatePassport(f.ctx, "pp", map[string]any{"provider": "x"}); !errors.Is(err, vaultstore.ErrConflict) {
			f.t.Errorf("creating an existing passport: %v, want ErrConflict", err)
		}
	}},
	{"malformed passport", func(f *fixture) {
		// The write lands; only its answer cannot be parsed.
		if _, err := f.s.CreatePassport(f.ctx, "bad", map[string]any{"provider": "google", "expiry": "tomorrow"}); !errors.Is(err, passport.ErrMalformed) {
			f.t.Errorf("creating with an unreadable expiry: %v, want ErrMalformed", err)
		}
		if _, err := f.s.PassportRecord(f.ctx, "bad"); !errors.Is(err, passport.ErrMalformed) {
			f.t.Errorf("unreadable expiry: %v, want ErrMalformed", err)
		}
	}},
	{"update with check-and-set", func(f *fixture) {
		rec := f.create("pp", map[string]any{"provider": "google", "status": passport.StatusActive, "access_token": "at-1", "account_email": "a@example.com"})
		next, err := f.s.UpdatePassport(f.ctx, rec, map[string]string{"access_token": "at-2", "account_email": "", "last_error": "x"})
		f.must(err)
		if next.Version <= rec.Version || next.Passport.AccessToken != "at-2" || next.Passport.AccountEmail != "" || next.Passport.LastError != "x" {
			f.t.Errorf("after update: version %d (was %d), %+v", next.Version, rec.Version, next.Passport)
		}
		if _, ok := next.Data["account_email"]; ok {
			f.t.Error(`a change to "" did not delete the field`)
		}
		if _, err := f.s.UpdatePassport(f.ctx, rec, map[string]string{"access_token": "at-stale"}); !errors.Is(err, vaultstore.ErrConflict) {
			f.t.Errorf("update at a stale version: %v, want ErrConflict", err)
		}
		again, err := f.s.PassportRecord(f.ctx, "pp")
		f.must(err)
		if again.Version != next.Version || again.Passport.AccessToken != "at-2" || again.Passport.Provider != "google" {
			f.t.Errorf("after a lost check-and-set: version %d, %+v; want the update before it", again.Version, again.Passport)
		}
	}},
	{"lease take, renew, release", func(f *fixture) {
		l, err := f.s.Lease(f.ctx, "pp")
		f.must(err)
		if l != (vaultstore.Lease{}) {
			f.t.Fatalf("missing lease = %+v, want the zero Lease", l)
		}
		taken, err := f.s.PutLease(f.ctx, "pp", l, "replica-a", at.Add(15*time.Second))
		f.must(err)
		if !taken.Held(at) || taken.Holder != "replica-a" || taken.Version < 1 {
			f.t.Errorf("taken = %+v", taken)
		}
		if _, err := f.s.PutLease(f.ctx, "pp", l, "replica-b", at.Add(15*time.Second)); !errors.Is(err, vaultstore.ErrConflict) {
			f.t.Errorf("a second take from the same read: %v, want ErrConflict", err)
		}
		read, err := f.s.Lease(f.ctx, "pp")
		f.must(err)
		if read.Holder != "replica-a" || read.Version != taken.Version || !read.Expires.Equal(taken.Expires) {
			f.t.Errorf("read = %+v, want %+v", read, taken)
		}
		renewed, err := f.s.PutLease(f.ctx, "pp", read, "replica-a", at.Add(30*time.Second))
		f.must(err)
		if renewed.Version <= taken.Version || !renewed.Held(at.Add(20*time.Second)) {
			f.t.Errorf("renewed = %+v", renewed)
		}
		if _, err := f.s.PutLease(f.ctx, "pp", taken, "replica-a", at.Add(time.Minute)); !errors.Is(err, vaultstore.ErrConflict) {
			f.t.Errorf("renewing from a stale version: %v, want ErrConflict", err)
		}
		released, err := f.s.PutLease(f.ctx, "pp", renewed, "", time.Time{})
		f.must(err)
		if released.Held(at) {
			f.t.Errorf("released = %+v, still held", released)
		}
		read, err = f.s.Lease(f.ctx, "pp")
		f.must(err)
		if read.Held(at) || read.Version != released.Version {
			f.t.Errorf("read after release = %+v", read)
		}
	}},
	{"list passports", func(f *fixture) {
		ids, err := f.s.ListPassports(f.ctx)
		f.must(err)
		if len(ids) != 0 {
			f.t.Errorf("empty store lists %v", ids)
		}
		for _, id := range []string{"b-pp", "a-pp", "c-pp"} {
			f.create(id, map[string]any{"provider": "google"})
		}
		ids, err = f.s.ListPassports(f.ctx)
		f.must(err)
		slices.Sort(ids)
		if want := []string{"a-pp", "b-pp", "c-pp"}; !slices.Equal(ids, want) {
			f.t.Errorf("ListPassports = %v, want %v", ids, want)
		}
	}},
	{"provider credentials", func(f *fixture) {
		if _, err := f.s.ProviderCredentials(f.ctx, "google"); !errors.Is(err, passport.ErrNotFound) {
			f.t.Errorf("missing credentials: %v, want ErrNotFound", err)
		}
		created, err := f.s.PutProviderCredentials(f.ctx, "google", vaultstore.Credentials{ClientID: "cid", ClientSecret: "csecret"})
		f.must(err)
		if !created {
			f.t.Error("first PutProviderCredentials did not create")
		}
		created, err = f.s.PutProviderCredentials(f.ctx, "google", vaultstore.Credentials{ClientID: "other", ClientSecret: "other"})
		f.must(err)
		if created {
			f.t.Error("PutProviderCredentials overwrote stored credentials")
		}
		c, err := f.s.ProviderCredentials(f.ctx, "google")
		f.must(err)
		if c != (vaultstore.Credentials{ClientID: "cid", ClientSecret: "csecret"}) {
			f.t.Errorf("credentials = %+v, want the first ones", c)
		}
		ref := f.prefix + "/providers/google"
		if err := f.s.CheckProviderRef(ref); err != nil {
			f.t.Errorf("CheckProviderRef(%q) = %v", ref, err)
		}
		secret, err := f.s.ProviderSecret(f.ctx, ref, "client_secret")
		if err != nil || secret != "csecret" {
			f.t.Errorf("ProviderSecret = %q, %v", secret, err)
		}
		if _, err := f.s.ProviderSecret(f.ctx, ref, "nothing"); !errors.Is(err, passport.ErrNotFound) {
			f.t.Errorf("missing field: %v, want ErrNotFound", err)
		}
		for _, bad := range []string{f.prefix + "/passports/pp", f.prefix + "/providers/a/b", f.prefix + "/providers/", "elsewhere/providers/google"} {
			if err := f.s.CheckProviderRef(bad); !errors.Is(err, vaultstore.ErrRefNotAllowed) {
				f.t.Errorf("CheckProviderRef(%q) = %v, want ErrRefNotAllowed", bad, err)
			}
			if _, err := f.s.ProviderSecret(f.ctx, bad, "client_secret"); !errors.Is(err, vaultstore.ErrRefNotAllowed) {
				f.t.Errorf("ProviderSecret(%q) = %v, want ErrRefNotAllowed", bad, err)
			}
		}
	}},
	{"oauth state is single-use", func(f *fixture) {
		st := vaultstore.OAuthState{Passport: "pp", Verifier: "v-1", Expires: at.Add(10 * time.Minute)}
		f.must(f.s.PutOAuthState(f.ctx, "state1", st))
		if err := f.s.PutOAuthState(f.ctx, "state1", st); !errors.Is(err, vaultstore.ErrConflict) {
			f.t.Errorf("reusing a state key: %v, want ErrConflict", err)
		}
		got, err := f.s.ClaimOAuthState(f.ctx, "state1", at)
		f.must(err)
		if got.Passport != "pp" || got.Verifier != "v-1" || !got.Expires.Equal(st.Expires) {
			f.t.Errorf("claimed %+v, want %+v", got, st)
		}
		if _, err := f.s.ClaimOAuthState(f.ctx, "state1", at); !errors.Is(err, vaultstore.ErrStateInvalid) {
			f.t.Errorf("second claim: %v, want ErrStateInvalid", err)
		}
		f.must(f.s.PutOAuthState(f.ctx, "state2", st))
		if _, err := f.s.ClaimOAuthState(f.ctx, "state2", st.Expires); !errors.Is(err, vaultstore.ErrStateInvalid) {
			f.t.Errorf("expired claim: %v, want ErrStateInvalid", err)
		}
		for _, key := range []string{"unknown", "../x"} {
			if _, err := f.s.ClaimOAuthState(f.ctx, key, at); !errors.Is(err, vaultstore.ErrStateInvalid) {
				f.t.Errorf("claim %q: %v, want ErrStateInvalid", key, err)
			}
		}
	}},
	{"bindings", func(f *fixture) {
		if _, err := f.s.Bindings(f.ctx, "screen"); !errors.Is(err, passport.ErrNotFound) {
			f.t.Errorf("missing bindings: %v, want ErrNotFound", err)
		}
		f.must(f.s.PutBindings(f.ctx, "screen", passport.Bindings{"calendar": "pp"}))
		f.must(f.s.PutBindings(f.ctx, "screen", passport.Bindings{"calendar": "pp-2", "mail": "pp"}))
		b, err := f.s.Bindings(f.ctx, "screen")
		f.must(err)
		if len(b) != 2 || b["calendar"] != "pp-2" || b["mail"] != "pp" {
			f.t.Errorf("bindings = %v", b)
		}
	}},
	{"instance configuration", func(f *fixture) {
		got, err := f.s.InstanceConfig(f.ctx, "screen", "clock")
		f.must(err)
		if len(got) != 0 {
			f.t.Errorf("unset configuration = %v, want empty", got)
		}
		at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		f.must(f.s.PutInstanceConfig(f.ctx, "screen", "clock", map[string]any{"title": "Atrium", "rows": 7.0, "big": true}, at))
		f.must(f.s.PutInstanceConfig(f.ctx, "other", "clock", map[string]any{"title": "Other"}, at))
		got, err = f.s.InstanceConfig(f.ctx, "screen", "clock")
		f.must(err)
		// Numbers come back as json.Number, whichever backend.
		if len(got) != 3 || got["title"] != "Atrium" || fmt.Sprint(got["rows"]) != "7" || got["big"] != true {
			f.t.Errorf("configuration = %#v", got)
		}
		ids, err := f.s.ListInstances(f.ctx)
		f.must(err)
		if !slices.Equal(ids, []string{"other", "screen"}) {
			f.t.Errorf("instances = %v, want the configured ones", ids)
		}
		f.must(f.s.DeleteInstanceConfig(f.ctx, "screen", "clock"))
		if got, err := f.s.InstanceConfig(f.ctx, "screen", "clock"); err != nil || len(got) != 0 {
			f.t.Errorf("after delete: %v, %v", got, err)
		}
		if got, _ := f.s.InstanceConfig(f.ctx, "other", "clock"); got["title"] != "Other" {
			f.t.Errorf("another instance's configuration changed: %v", got)
		}
		for _, bad := range [][2]string{{"../x", "clock"}, {"screen", "../bindings"}, {"screen", "a/b"}} {
			if err := f.s.PutInstanceConfig(f.ctx, bad[0], bad[1], map[string]any{}, at); err == nil {
				f.t.Errorf("put %v accepted", bad)
			}
		}
	}},
}

// Run runs every case against a fresh store from newStore.
func Run(t *testing.T, newStore New) {
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := fmt.Sprintf("storetest-%d", i)
			tc.run(&fixture{t: t, s: newStore(t, prefix), prefix: prefix, ctx: context.Background()})
		})
	}
}
