package connect_test

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// statusChange is one OnStatusChange call.
type statusChange struct {
	id, status, previous, reason string
}

func recordChanges(f *connect.Flow) *[]statusChange {
	var got []statusChange
	f.OnStatusChange = func(p *passport.Passport, previous, reason string) {
		got = append(got, statusChange{p.ID, p.Status, previous, reason})
	}
	return &got
}

// A sign-in that connects a reconnect_required passport tells
// OnStatusChange once, even after failed attempts (a failed sign-in
// leaves the status as it was); connecting an inactive one, or a denied
// sign-in, does not.
func TestFinishOnStatusChange(t *testing.T) {
	var (
		connected = url.Values{"code": {"code-1"}}
		denied    = url.Values{"error": {"access_denied"}}
		recovered = []statusChange{{"pp", passport.StatusActive, passport.StatusReconnectRequired,
			"an administrator reconnected the passport through the provider's sign-in"}}
	)
	tests := []struct {
		name       string
		status     string
		answers    []url.Values // each sign-in's callback query besides state
		wantStatus string
		want       []statusChange
	}{
		{"reconnect_required, connected", passport.StatusReconnectRequired, []url.Values{connected}, passport.StatusActive, recovered},
		{"reconnect_required, denied", passport.StatusReconnectRequired, []url.Values{denied}, passport.StatusReconnectRequired, nil},
		{"reconnect_required, denied twice, then connected", passport.StatusReconnectRequired, []url.Values{denied, denied, connected},
			passport.StatusActive, recovered},
		{"active, denied", passport.StatusActive, []url.Values{denied}, passport.StatusActive, nil},
		{"inactive, denied", passport.StatusInactive, []url.Values{denied}, passport.StatusInactive, nil},
		{"inactive, connected", passport.StatusInactive, []url.Values{connected}, passport.StatusActive, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			got := recordChanges(w.flow)
			p := w.passport(t, "custom:oauth", map[string]any{"status": tc.status, "access_token": "at-0", "refresh_token": "rt-0"})
			for _, answer := range tc.answers {
				raw, err := w.flow.Start(context.Background(), p)
				if err != nil {
					t.Fatal(err)
				}
				u, _ := url.Parse(raw)
				q := url.Values{"state": {u.Query().Get("state")}}
				for k, v := range answer {
					q[k] = v
				}
				w.flow.Finish(context.Background(), q)
			}
			if !slices.Equal(*got, tc.want) {
				t.Errorf("OnStatusChange calls %+v, want %+v", *got, tc.want)
			}
			if after, err := w.store.Passport(context.Background(), "pp"); err != nil || after.Status != tc.wantStatus {
				t.Errorf("passport after the sign-ins: %+v, %v; want status %s", after, err, tc.wantStatus)
			}
		})
	}
}

// Pasted credentials that work on a reconnect_required passport tell
// OnStatusChange once, even after refused ones (a refused paste leaves it
// reconnect_required); refused ones, or a first connect, do not.
func TestConnectPastedOnStatusChange(t *testing.T) {
	recovered := []statusChange{{"pp", passport.StatusActive, passport.StatusReconnectRequired,
		"an administrator reconnected the passport with new credentials"}}
	tests := []struct {
		name       string
		status     string
		pasted     []string // each paste's refresh token
		wantStatus string
		want       []statusChange
	}{
		{"reconnect_required, accepted", passport.StatusReconnectRequired, []string{"rt-good"}, passport.StatusActive, recovered},
		{"reconnect_required, refused", passport.StatusReconnectRequired, []string{"rt-bad"}, passport.StatusReconnectRequired, nil},
		{"reconnect_required, refused, then accepted", passport.StatusReconnectRequired, []string{"rt-bad", "rt-good"},
			passport.StatusActive, recovered},
		// The paste replaced the tokens that served: nothing is connected.
		{"active, refused", passport.StatusActive, []string{"rt-bad"}, passport.StatusInactive, nil},
		{"inactive, accepted", passport.StatusInactive, []string{"rt-good"}, passport.StatusActive, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := pastedWorld(t)
			got := recordChanges(w.flow)
			rec, err := w.store.PassportRecord(context.Background(), "pp")
			if err != nil {
				t.Fatal(err)
			}
			if _, err = w.store.UpdatePassport(context.Background(), rec, map[string]string{"status": tc.status}); err != nil {
				t.Fatal(err)
			}
			for _, rt := range tc.pasted {
				rec, err := w.store.PassportRecord(context.Background(), "pp")
				if err != nil {
					t.Fatal(err)
				}
				w.flow.ConnectPasted(context.Background(), rec,
					connect.PastedCredentials{SubjectID: "sub-1", RefreshToken: rt, InstanceURL: "https://tenant.appspace.example"})
			}
			if !slices.Equal(*got, tc.want) {
				t.Errorf("OnStatusChange calls %+v, want %+v", *got, tc.want)
			}
			after, err := w.store.Passport(context.Background(), "pp")
			if err != nil || after.Status != tc.wantStatus {
				t.Errorf("passport after the pastes: %+v, %v; want status %s", after, err, tc.wantStatus)
			}
			if tc.wantStatus != passport.StatusActive && (after.RefreshToken != "" || after.AccessToken != "") {
				t.Errorf("a refused paste kept tokens: %+v", after)
			}
		})
	}
}
