package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/callerctx"
)

// exampleLogBlock returns the site's log block from Caddyfile.example, so
// the test checks the configuration operators copy.
func exampleLogBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "log {" {
			continue
		}
		depth := 0
		for j := i; j < len(lines); j++ {
			depth += strings.Count(lines[j], "{") - strings.Count(lines[j], "}")
			if depth == 0 {
				return strings.Join(lines[i:j+1], "\n")
			}
		}
	}
	t.Fatal("Caddyfile.example has no site log block")
	return ""
}

// TestSignedContextNotInAccessLog: a signed caller context is a bearer
// credential for up to its lifetime, and Caddy's access log redacts only
// Authorization, Cookie and their like. With the log block of
// Caddyfile.example the access log has the call but not the context; with
// a plain "log" it would (the first case shows the filter is what
// protects it).
func TestSignedContextNotInAccessLog(t *testing.T) {
	cases := []struct {
		name  string
		block string
		leaks bool
	}{
		{"plain log", "log", true},
		{"Caddyfile.example's log", exampleLogBlock(t), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startSigned(t, tc.block)
			token := s.mint(t, s.current, callerctx.Context{Instance: "lobby", Widget: "calendar", User: "u1"}, 10*time.Minute)
			if r := s.call(t, "POST", calendarCall+"?probe=access-log", `{}`, "X-Widget-Context", token); r.status != 200 {
				t.Fatalf("call: %d %s", r.status, r.raw)
			}
			_, sig, _ := strings.Cut(token[strings.Index(token, ".")+1:], ".")
			// The access log line is written as the response finishes,
			// possibly just after the client has it; the query string
			// tells this call's line from the warm-up calls'.
			s.gw.WaitLog(t, "probe=access-log")
			log := s.gw.Log()
			if leaked := strings.Contains(log, sig); leaked != tc.leaks {
				t.Errorf("context in the access log: %v, want %v", leaked, tc.leaks)
			}
		})
	}
}
