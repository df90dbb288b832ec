package webhook_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/webhook"
)

// Sign's header verifies with the same key, body and a close clock, and
// every way of getting one of them wrong is refused with a clear error.
func TestSignAndVerify(t *testing.T) {
	key, other := []byte("key-1"), []byte("key-2")
	body := []byte(`{"id":"abc","type":"passport.active"}`)
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	header := webhook.Sign(key, at, body)
	if !strings.HasPrefix(header, "t="+strconv.FormatInt(at.Unix(), 10)+",v1=") {
		t.Fatalf("header %q, want t=<unix>,v1=<hex>", header)
	}
	v1 := strings.SplitN(header, "v1=", 2)[1]
	tests := []struct {
		name    string
		key     []byte
		header  string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"as signed", key, header, body, at, nil},
		{"receiver clock 4m ahead", key, header, body, at.Add(4 * time.Minute), nil},
		{"receiver clock 4m behind", key, header, body, at.Add(-4 * time.Minute), nil},
		{"rotation: old and new key entries", key, webhook.Sign(other, at, body) + ",v1=" + v1, body, at, nil},
		{"unknown scheme ignored", key, header + ",v0=zz", body, at, nil},
		{"wrong key", other, header, body, at, webhook.ErrMismatch},
		{"tampered body", key, header, []byte(`{"id":"abd","type":"passport.active"}`), at, webhook.ErrMismatch},
		{"timestamp changed", key, "t=" + strconv.FormatInt(at.Unix()+1, 10) + ",v1=" + v1, body, at, webhook.ErrMismatch},
		{"signature not hex", key, "t=" + strconv.FormatInt(at.Unix(), 10) + ",v1=xyz", body, at, webhook.ErrMismatch},
		{"stale: 6m old", key, header, body, at.Add(6 * time.Minute), webhook.ErrStale},
		{"from the future: 6m", key, header, body, at.Add(-6 * time.Minute), webhook.ErrStale},
		{"empty header", key, "", body, at, webhook.ErrNoSignature},
		{"no timestamp", key, "v1=" + v1, body, at, webhook.ErrNoSignature},
		{"no v1", key, "t=" + strconv.FormatInt(at.Unix(), 10), body, at, webhook.ErrNoSignature},
		{"timestamp not a number", key, "t=noon,v1=" + v1, body, at, webhook.ErrNoSignature},
		{"two timestamps", key, header + ",t=1", body, at, webhook.ErrNoSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.key, tc.header, tc.body, tc.now, 5*time.Minute)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), string(tc.key)) || strings.Contains(err.Error(), v1)) {
				t.Errorf("error %q names the key or the signature", err)
			}
		})
	}
}

// A tolerance of zero means DefaultTolerance, not "any age".
func TestVerifyDefaultTolerance(t *testing.T) {
	key, body := []byte("k"), []byte("{}")
	at := time.Unix(1_800_000_000, 0)
	h := webhook.Sign(key, at, body)
	if err := webhook.Verify(key, h, body, at.Add(webhook.DefaultTolerance), 0); err != nil {
		t.Errorf("at the default tolerance: %v", err)
	}
	if err := webhook.Verify(key, h, body, at.Add(webhook.DefaultTolerance+time.Second), 0); !errors.Is(err, webhook.ErrStale) {
		t.Errorf("past the default tolerance: %v, want ErrStale", err)
	}
}
