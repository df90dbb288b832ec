package standin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestGraphCalendarView(t *testing.T) {
	_, srv := newServer(t)
	const window = "?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z"
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantCode   string // Graph error code, "" on success
		wantMsg    string
	}{
		{"ok", "/v1.0/me/calendarview" + window, bearer(testToken), 200, "", ""},
		{"ok camel case path and params", "/v1.0/me/calendarView?StartDateTime=a&EndDateTime=b", bearer(testToken), 200, "", ""},
		{"missing window", "/v1.0/me/calendarview", bearer(testToken), 400, "ErrorInvalidParameter", graphNoWindow},
		{"missing end", "/v1.0/me/calendarview?startDateTime=2026-11-23T00:00:00Z", bearer(testToken), 400, "ErrorInvalidParameter", graphNoWindow},
		{"missing token", "/v1.0/me/calendarview" + window, nil, 401, "InvalidAuthenticationToken", "Access token is empty."},
		{"invalid token", "/v1.0/me/calendarview" + window, bearer("nope"), 401, "InvalidAuthenticationToken", graphBadToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, "GET", tc.path, tc.header, "")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantCode == "" {
				var list struct {
					Context string `json:"@odata.context"`
					Value   []struct {
						ID    string `json:"id"`
						Start struct {
							DateTime, TimeZone string
						} `json:"start"`
					} `json:"value"`
				}
				if err := json.Unmarshal(body, &list); err != nil {
					t.Fatal(err)
				}
				if list.Context != graphContext || len(list.Value) == 0 || list.Value[0].ID != "AAMk1" ||
					list.Value[0].Start.DateTime != "2026-11-23T10:00:00.0000000" || list.Value[0].Start.TimeZone != "UTC" {
					t.Errorf("unexpected body %s", body)
				}
				return
			}
			var e struct {
				Error struct {
					Code       string `json:"code"`
					Message    string `json:"message"`
					InnerError struct {
						Date            string `json:"date"`
						RequestID       string `json:"request-id"`
						ClientRequestID string `json:"client-request-id"`
					} `json:"innerError"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatal(err)
			}
			if e.Error.Code != tc.wantCode || e.Error.Message != tc.wantMsg {
				t.Errorf("error = %+v", e.Error)
			}
			ie := e.Error.InnerError
			if ie.Date == "" || ie.RequestID == "" || ie.ClientRequestID == "" {
				t.Errorf("innerError incomplete: %+v", ie)
			}
			if ie.RequestID != resp.Header.Get("request-id") {
				t.Errorf("request-id header %q != body %q", resp.Header.Get("request-id"), ie.RequestID)
			}
			if tc.wantStatus == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}
