package standin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newRateLimitServer(t *testing.T) (*RateLimitAPI, *httptest.Server) {
	t.Helper()
	p := New()
	p.AddToken(testToken)
	a := NewRateLimitAPI(p)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv
}

func TestRateLimitAPIAnswers(t *testing.T) {
	a, srv := newRateLimitServer(t)
	rt := a.Route("r")
	auth := bearer(testToken)
	auth.Set("X-Variant", "b")

	resp, body := do(t, srv, "GET", "/rl/r?page=2", auth, "")
	var got rlAnswer
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got.Route != "r" || got.N != 1 || got.Method != "GET" || got.Query != "page=2" || got.Headers["X-Variant"] != "b" || len(got.Headers) != 1 {
		t.Errorf("default answer %s", body)
	}
	if strings.Contains(string(body), testToken) {
		t.Error("the default answer echoes the token")
	}

	rt.Next(Reply{Status: 429, Header: map[string]string{"Retry-After": "2"}}, GoogleRateLimit("userRateLimitExceeded"))
	rt.Down(Reply{Status: 500, Body: `{"down":true}`})
	for i, want := range []struct {
		status int
		header string
		body   string
	}{
		{429, "2", `{"status":429}`},
		{403, "", `{"error":{"code":403,"message":"User Rate Limit Exceeded","errors":[{"message":"User Rate Limit Exceeded","domain":"usageLimits","reason":"userRateLimitExceeded"}],"status":"PERMISSION_DENIED"}}`},
		{500, "", `{"down":true}`},
		{500, "", `{"down":true}`},
	} {
		resp, body := do(t, srv, "GET", "/rl/r", bearer(testToken), "")
		if resp.StatusCode != want.status || resp.Header.Get("Retry-After") != want.header || string(body) != want.body {
			t.Errorf("answer %d: %d Retry-After %q %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	rt.Up()
	if resp, body := do(t, srv, "POST", "/rl/r", bearer(testToken), `{"x":1}`); resp.StatusCode != 200 || !strings.Contains(string(body), `"n":6`) {
		t.Errorf("after Up: %d %s", resp.StatusCode, body)
	}
	if rt.Count() != 6 || string(rt.Requests()[5].Body) != `{"x":1}` {
		t.Errorf("count %d", rt.Count())
	}
	if resp, _ := do(t, srv, "GET", "/rl/r", bearer("nope"), ""); resp.StatusCode != 401 {
		t.Errorf("a bad token: %d", resp.StatusCode)
	}
	if resp, body := do(t, srv, "GET", "/rl/r?pad=100", bearer(testToken), ""); len(body) < 100 || resp.StatusCode != 200 {
		t.Errorf("padded answer of %d bytes", len(body))
	}

	a.Route("gone").Down(Reply{Drop: true})
	req, _ := http.NewRequest("GET", srv.URL+"/rl/gone", nil)
	req.Header = bearer(testToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		t.Errorf("a dropped connection answered %d", resp.StatusCode)
	}
}

// TestRateLimitAPIHoldAndLimit: a held request waits for Release; a
// request beyond the limit gets Graph's throttling answer at once.
func TestRateLimitAPIHoldAndLimit(t *testing.T) {
	a, srv := newRateLimitServer(t)
	rt := a.Route("held")
	rt.Hold()
	rt.Limit(1)
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/rl/held", nil)
		req.Header = bearer(testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for rt.InFlight() != 1 {
		select {
		case <-deadline:
			t.Fatal("the held request never arrived")
		case <-tick.C:
		}
	}
	resp, body := do(t, srv, "GET", "/rl/held", bearer(testToken), "")
	var graph struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(body, &graph)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || graph.Error.Code != "ApplicationThrottled" || graph.Error.Message != graphThrottledMessage {
		t.Errorf("over the limit: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	select {
	case s := <-answered:
		t.Fatalf("the held request was answered (%d) before Release", s)
	default:
	}
	rt.Release()
	if s := <-answered; s != 200 {
		t.Errorf("held request: %d", s)
	}
	if rt.MaxInFlight() != 2 || rt.InFlight() != 0 || rt.Count() != 2 {
		t.Errorf("max in flight %d, in flight %d, count %d", rt.MaxInFlight(), rt.InFlight(), rt.Count())
	}
}
