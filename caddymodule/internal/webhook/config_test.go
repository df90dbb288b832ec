package webhook_test

import (
	"context"
	"strings"
	"testing"

	"github.com/widgetgate/widgetgate/caddymodule/internal/webhook"
)

func staticKey(k string) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) { return []byte(k), nil }
}

// New refuses URLs that are not absolute http(s) without user info, and
// its errors name the URL without the query or password that may be in
// it.
func TestNewValidatesURLs(t *testing.T) {
	const secret = "canary-secret-51c0"
	tests := []struct {
		name    string
		urls    []string
		wantErr string // "" for none
	}{
		{"http and https", []string{"http://hooks.example/a", "https://hooks.example/b?token=" + secret}, ""},
		{"none", nil, "no URLs"},
		{"ftp", []string{"ftp://hooks.example/x?token=" + secret}, `"ftp://hooks.example/x": scheme must be http or https`},
		{"relative", []string{"/hooks/x?token=" + secret}, `"/hooks/x": scheme must be http or https`},
		{"no host", []string{"https:///x?token=" + secret}, `"https:///x": must be absolute`},
		{"user info", []string{"https://ops:" + secret + "@hooks.example/x"}, `"https://hooks.example/x": must not carry user info`},
		{"unparsable", []string{"https://[::1/x?token=" + secret}, `"https://[::1/x"`},
		{"unparsable with password", []string{"https://ops:" + secret + "@[::1/x"}, `"https://[::1/x"`},
		{"listed twice", []string{"https://hooks.example/x?a=" + secret, "https://hooks.example/x?a=" + secret}, "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := webhook.New(webhook.Config{URLs: tc.urls, Key: staticKey("k")})
			if tc.wantErr == "" {
				if err != nil || n == nil {
					t.Fatalf("New = %v, %v", n, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error %v, want one containing %s", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q names the URL's secret", err)
			}
		})
	}
}

// A notifier without a key source is refused: it could sign nothing.
func TestNewNeedsKey(t *testing.T) {
	if _, err := webhook.New(webhook.Config{URLs: []string{"https://hooks.example/"}}); err == nil || !strings.Contains(err.Error(), "Config.Key") {
		t.Fatalf("New without Key: %v", err)
	}
}

// No webhooks configured is a nil *Notifier: every method is a no-op.
func TestNilNotifier(t *testing.T) {
	var n *webhook.Notifier
	n.Notify(webhook.NewEvent(webhook.TypeActive, "pp", "google", "", testTime))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.Run(ctx)
	if s := n.Stats(); s != (webhook.Stats{}) {
		t.Errorf("Stats = %+v", s)
	}
}
