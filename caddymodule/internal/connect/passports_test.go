package connect_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// Create stores an inactive passport under a slug of its display name, or
// of the provider's name when the display name gives no usable slug.
func TestCreate(t *testing.T) {
	tests := []struct {
		displayName string
		id          string // pattern
	}{
		{"Sales Team's Appspace!", `^sales-team-s-appspace-[0-9a-f]{6}$`},
		{"¡¡¡", `^custom-oauth-[0-9a-f]{6}$`},
		{"a very long display name that makes a slug of more than forty bytes", `^custom-oauth-[0-9a-f]{6}$`},
	}
	for _, tc := range tests {
		t.Run(tc.displayName, func(t *testing.T) {
			w := newWorld(t)
			prov, _ := w.flow.Lookup("custom:oauth")
			p, err := w.flow.Create(context.Background(), prov, tc.displayName)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(tc.id).MatchString(p.ID) {
				t.Errorf("id %q, want %s", p.ID, tc.id)
			}
			stored, err := w.store.Passport(context.Background(), p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Provider != "custom:oauth" || stored.Status != passport.StatusInactive || stored.DisplayName != tc.displayName ||
				stored.AccessToken != "" || stored.RefreshToken != "" {
				t.Errorf("created passport = %+v", stored)
			}
		})
	}
}

// pastedWorld is a world with an Appspace passport and a fake Refresh that
// accepts the refresh token "rt-good" only, recording what it was given.
func pastedWorld(t *testing.T) (*world, *[]*passport.Passport) {
	w := newWorld(t)
	w.passport(t, "appspace", nil)
	var seen []*passport.Passport
	w.flow.Refresh = func(_ context.Context, p *passport.Passport) (*passport.Passport, error) {
		seen = append(seen, p)
		if p.RefreshToken != "rt-good" {
			return nil, errors.New("invalid_grant")
		}
		next := *p
		next.AccessToken, next.Expiry = "at-2", w.now.Add(time.Hour)
		return &next, nil
	}
	return w, &seen
}

// Pasted credentials are stored as an active passport whose placeholder
// token has expired, and the first redemption's passport is returned.
func TestConnectPasted(t *testing.T) {
	w, seen := pastedWorld(t)
	rec, err := w.store.PassportRecord(context.Background(), "pp")
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.flow.ConnectPasted(context.Background(), rec,
		connect.PastedCredentials{SubjectID: "sub-1", RefreshToken: "rt-good", InstanceURL: "https://tenant.appspace.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != "at-2" || got.SubjectID != "sub-1" || !got.Active() {
		t.Errorf("connected passport = %+v", got)
	}
	if len(*seen) != 1 {
		t.Fatalf("%d redemptions, want 1", len(*seen))
	}
	if r := (*seen)[0]; r.Status != passport.StatusActive || r.AccessToken != "pending" || !r.Expiry.Equal(time.Unix(0, 0)) ||
		r.SubjectID != "sub-1" || r.RefreshToken != "rt-good" || r.InstanceURL != "https://tenant.appspace.example" || r.LastError != "" {
		t.Errorf("redeemed passport = %+v", r)
	}
}

// Credentials the provider refuses leave the passport inactive, without
// tokens, with last_error invalid_credentials.
func TestConnectPastedRefused(t *testing.T) {
	w, seen := pastedWorld(t)
	rec, err := w.store.PassportRecord(context.Background(), "pp")
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.flow.ConnectPasted(context.Background(), rec,
		connect.PastedCredentials{SubjectID: "sub-1", RefreshToken: "rt-bad", InstanceURL: "https://tenant.appspace.example"})
	if reason(err) != "invalid_credentials" ||
		err.Error() != "Appspace did not accept the subject id and refresh token; the passport is not connected." {
		t.Fatalf("refused: %v, want invalid_credentials", err)
	}
	if len(*seen) != 1 {
		t.Fatalf("%d redemptions, want 1", len(*seen))
	}
	after, err := w.store.Passport(context.Background(), "pp")
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != passport.StatusInactive || after.LastError != "invalid_credentials" || after.AccessToken != "" || after.RefreshToken != "" {
		t.Errorf("after a refusal: %+v", after)
	}
}
