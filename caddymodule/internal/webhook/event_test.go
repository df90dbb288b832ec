package webhook_test

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/webhook"
)

// An event's JSON has exactly the documented fields, a 128-bit hex id
// and the time in UTC RFC 3339.
func TestNewEventJSON(t *testing.T) {
	at := time.Date(2026, 12, 2, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	ev := webhook.NewEvent(webhook.TypeReconnectRequired, "pp-1", "google", "the provider refused the refresh token (invalid_grant)", at)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"id", "passport", "provider", "reason", "time", "type"}) {
		t.Errorf("fields %v", keys)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(ev.ID) {
		t.Errorf("id %q, want 32 hex digits", ev.ID)
	}
	if got["time"] != "2026-12-02T12:00:00Z" || got["type"] != "passport.reconnect_required" || got["passport"] != "pp-1" || got["provider"] != "google" {
		t.Errorf("event JSON %s", b)
	}
	if again := webhook.NewEvent(webhook.TypeActive, "pp-1", "google", "", at); again.ID == ev.ID {
		t.Error("two events share an id")
	}
}
