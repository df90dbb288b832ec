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
// OnStatusChange once; connecting an inactive one, or a denied sign-in,
// does not.
func TestFinishOnStatusChange(t *testing.T) {
	tests := []struct {
		name   string
		status string
		answer url.Values // the callback's query besides state
		want   []statusChange
	}{
		{"reconnect_required, connected", passport.StatusReconnectRequired, url.Values{"code": {"code-1"}},
			[]statusChange{{"pp", passport.StatusActive, passport.StatusReconnectRequired,
				"an administrator reconnected the passport through the provider's sign-in"}}},
		{"inactive, connected", passport.StatusInactive, url.Values{"code": {"code-1"}}, nil},
		{"reconnect_required, denied", passport.StatusReconnectRequired, url.Values{"error": {"access_denied"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			got := recordChanges(w.flow)
			p := w.passport(t, "custom:oauth", map[string]any{"status": tc.status, "access_token": "at-0", "refresh_token": "rt-0"})
			raw, err := w.flow.Start(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(raw)
			q := url.Values{"state": {u.Query().Get("state")}}
			for k, v := range tc.answer {
				q[k] = v
			}
			w.flow.Finish(context.Background(), q)
			if !slices.Equal(*got, tc.want) {
				t.Errorf("OnStatusChange calls %+v, want %+v", *got, tc.want)
			}
		})
	}
}

// Pasted credentials that work on a reconnect_required passport tell
// OnStatusChange once; refused ones, or a first connect, do not.
func TestConnectPastedOnStatusChange(t *testing.T) {
	tests := []struct {
		name   string
		status string
		rt     string
		want   []statusChange
	}{
		{"reconnect_required, accepted", passport.StatusReconnectRequired, "rt-good",
			[]statusChange{{"pp", passport.StatusActive, passport.StatusReconnectRequired,
				"an administrator reconnected the passport with new credentials"}}},
		{"reconnect_required, refused", passport.StatusReconnectRequired, "rt-bad", nil},
		{"inactive, accepted", passport.StatusInactive, "rt-good", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := pastedWorld(t)
			got := recordChanges(w.flow)
			rec, err := w.store.PassportRecord(context.Background(), "pp")
			if err != nil {
				t.Fatal(err)
			}
			if rec, err = w.store.UpdatePassport(context.Background(), rec, map[string]string{"status": tc.status}); err != nil {
				t.Fatal(err)
			}
			w.flow.ConnectPasted(context.Background(), rec,
				connect.PastedCredentials{SubjectID: "sub-1", RefreshToken: tc.rt, InstanceURL: "https://tenant.appspace.example"})
			if !slices.Equal(*got, tc.want) {
				t.Errorf("OnStatusChange calls %+v, want %+v", *got, tc.want)
			}
		})
	}
}
