package authserver

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUserinfoErrors(t *testing.T) {
	e := newEnv(t, Config{ExpiresIn: 60})
	access := e.tokens()["access_token"].(string)
	tests := []struct {
		name      string
		header    string
		advance   time.Duration
		challenge string
	}{
		{"no token", "", 0, `Bearer realm="authserver"`},
		{"basic auth", "Basic eDp5", 0, `Bearer realm="authserver"`},
		{"unknown token", "Bearer at_nope", 0, `error="invalid_token"`},
		{"expired token", "Bearer " + access, 60 * time.Second, `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(tt.advance)
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/userinfo", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, body := e.do(req)
			if resp.StatusCode != 401 || body["error"] != "invalid_token" {
				t.Errorf("got %d %v", resp.StatusCode, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", got, tt.challenge)
			}
		})
	}
}
