package standin

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

func TestGoogleCalendarEvents(t *testing.T) {
	_, srv := newServer(t)
	tests := []struct {
		name      string
		path      string
		wantIDs   []string
		wantTitle string
	}{
		{"all events", "/calendar/v3/calendars/primary/events", []string{"evt1", "evt2", "evt3"}, "primary"},
		{"maxResults truncates", "/calendar/v3/calendars/primary/events?maxResults=2", []string{"evt1", "evt2"}, "primary"},
		{"maxResults one", "/calendar/v3/calendars/primary/events?maxResults=1", []string{"evt1"}, "primary"},
		{"maxResults above count", "/calendar/v3/calendars/primary/events?maxResults=50", []string{"evt1", "evt2", "evt3"}, "primary"},
		{"escaped calendar id", "/calendar/v3/calendars/team%40example.com/events", []string{"evt1", "evt2", "evt3"}, "team@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, "GET", tc.path, bearer(testToken), "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			var list struct {
				Kind     string `json:"kind"`
				Summary  string `json:"summary"`
				TimeZone string `json:"timeZone"`
				Items    []struct {
					Kind  string `json:"kind"`
					ID    string `json:"id"`
					Start struct {
						DateTime string `json:"dateTime"`
					} `json:"start"`
				} `json:"items"`
			}
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			if list.Kind != "calendar#events" || list.Summary != tc.wantTitle || list.TimeZone != "UTC" {
				t.Errorf("envelope = %+v", list)
			}
			var ids []string
			for _, it := range list.Items {
				if it.Kind != "calendar#event" || it.Start.DateTime == "" {
					t.Errorf("bad item %+v", it)
				}
				ids = append(ids, it.ID)
			}
			if !reflect.DeepEqual(ids, tc.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tc.wantIDs)
			}
		})
	}
}

func TestGoogleErrors(t *testing.T) {
	_, srv := newServer(t)
	const events = "/calendar/v3/calendars/primary/events"
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantBody   string
		wantAuthn  string
	}{
		{"missing token", events, nil, 401, googleUnauthorizedBody, `Bearer realm="https://accounts.google.com/"`},
		{"invalid token", events, bearer("nope"), 401, googleUnauthorizedBody, `Bearer realm="https://accounts.google.com/"`},
		{"wrong scheme", events, http.Header{"Authorization": {"Basic " + testToken}}, 401, googleUnauthorizedBody, `Bearer realm="https://accounts.google.com/"`},
		{"empty bearer", events, http.Header{"Authorization": {"Bearer "}}, 401, googleUnauthorizedBody, `Bearer realm="https://accounts.google.com/"`},
		{"unknown calendar", "/calendar/v3/calendars/missing/events", bearer(testToken), 404, googleNotFoundBody, ""},
		{"bad maxResults", events + "?maxResults=0", bearer(testToken), 400,
			`{"error":{"code":400,"message":"Invalid value '0'. Values must be within the range: [1, 2500]","errors":[{"message":"Invalid value '0'. Values must be within the range: [1, 2500]","domain":"global","reason":"invalid","location":"maxResults","locationType":"parameter"}],"status":"INVALID_ARGUMENT"}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, "GET", tc.path, tc.header, "")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.wantAuthn {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantAuthn)
			}
			jsonEqual(t, body, tc.wantBody)
		})
	}
	// The literal 401 body must match the brief exactly, not just structurally.
	_, body := do(t, srv, "GET", events, nil, "")
	const want = `{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}}`
	if string(body) != want {
		t.Errorf("401 body = %s", body)
	}
}
