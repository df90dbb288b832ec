package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// webhookSigningKey is the key at <prefix>/webhook; a canary too: it must
// never show in a log.
const webhookSigningKey = "webhook-key-CANARY-7d2e90ab"

// hookEvent is an event as the README documents it.
type hookEvent struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Passport string    `json:"passport"`
	Provider string    `json:"provider"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// verifySignature checks a Widgetgate-Signature header the way the README
// tells receivers to, written here from that description rather than
// with widgetgate's code: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">, t within five minutes.
func verifySignature(header string, body []byte) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("timestamp %q missing or stale", ts)
	}
	mac := hmac.New(sha256.New, []byte(webhookSigningKey))
	mac.Write([]byte(ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no v1 signature matches")
}

// hookReceiver stands in for an operator's webhook endpoint (a chat or
// ticketing integration): it verifies every delivery's signature, fails
// the first failFirst deliveries with a 500 as a receiver that is down
// does, and keeps the events it accepted.
type hookReceiver struct {
	mu        sync.Mutex
	failFirst int
	attempts  int
	accepted  []hookEvent
	bad       []string // why a delivery was refused
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if err := verifySignature(r.Header.Get("Widgetgate-Signature"), body); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	if h.attempts <= h.failFirst {
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	}
	var ev hookEvent
	if err := json.Unmarshal(body, &ev); err != nil || r.Header.Get("Widgetgate-Event-Id") != ev.ID || r.Header.Get("Widgetgate-Event-Type") != ev.Type {
		h.bad = append(h.bad, "malformed event: "+string(body))
		http.Error(w, "malformed", http.StatusBadRequest)
		return
	}
	h.accepted = append(h.accepted, ev)
}

var errNotYet = errors.New("not yet")

func (h *hookReceiver) snapshot() (attempts int, accepted []hookEvent, bad []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attempts, append([]hookEvent(nil), h.accepted...), append([]string(nil), h.bad...)
}

// TestWebhooksOnePerTransitionAcrossReplicas: three replicas share a
// passport whose access token has expired and whose refresh token the
// provider no longer knows (it answers invalid_grant). Calls on all three
// race to refresh; the lease holder marks the passport
// reconnect_required, and only it tells the webhook. The receiver is down
// for the first two deliveries, so the event arrives on the third
// attempt, once. Reconnecting the passport sends passport.active.
func TestWebhooksOnePerTransitionAcrossReplicas(t *testing.T) {
	recv := &hookReceiver{failFirst: 2}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	a := startAdminWith(t, options{globalExtra: "webhooks {\n\t\t\turls " + srv.URL + "/hooks/widgetgate?channel=ops-CANARY\n\t\t}"})
	a.vault.Put(t, "widgetgate/webhook", map[string]any{"signing_key": webhookSigningKey})
	a.vault.Put(t, "widgetgate/passports/pp-crm", map[string]any{"provider": "custom:crm", "status": "active", "display_name": "CRM",
		"access_token": "at-expired", "token_type": "Bearer", "refresh_token": "rt-unknown-to-the-provider",
		"expiry": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
	a.bind(t, "screen", map[string]any{"crm": "pp-crm"})
	replicas := []*testenv.Widgetgate{a.gw, a.replica(t), a.replica(t)}

	var wg sync.WaitGroup
	for _, gw := range replicas {
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				send("POST", gw.URL+"/sidecar/widgets/crm/apis/getData", `{}`, "X-Widget-Instance", "screen")
			}()
		}
	}
	wg.Wait()
	testenv.WaitFor(t, 30*time.Second, "the reconnect_required event", func() error {
		if _, accepted, _ := recv.snapshot(); len(accepted) == 0 {
			return errNotYet
		}
		return nil
	})
	if p := a.passport(t, "pp-crm"); p["status"] != "reconnect_required" {
		t.Fatalf("passport status %v, want reconnect_required", p["status"])
	}

	// Reconnect: the sign-in flow on one replica, the callback on another.
	r := callback(t, replicas[1], consent(t, a.startConnect(t, "pp-crm"), "allow"))
	if r.status != 200 {
		t.Fatalf("callback: %d %s", r.status, r.raw)
	}
	testenv.WaitFor(t, 30*time.Second, "the passport.active event", func() error {
		if _, accepted, _ := recv.snapshot(); len(accepted) < 2 {
			return errNotYet
		}
		return nil
	})

	attempts, accepted, bad := recv.snapshot()
	if len(bad) > 0 {
		t.Errorf("deliveries refused by the receiver: %v", bad)
	}
	var types []string
	for _, ev := range accepted {
		types = append(types, ev.Type)
		if ev.Passport != "pp-crm" || ev.Provider != "custom:crm" || ev.Reason == "" || ev.Time.IsZero() || len(ev.ID) != 32 {
			t.Errorf("event %+v: want passport pp-crm, provider custom:crm, a reason, a time and a 128-bit id", ev)
		}
	}
	if want := []string{"passport.reconnect_required", "passport.active"}; strings.Join(types, ",") != strings.Join(want, ",") {
		t.Errorf("events %v, want exactly %v (one per transition across 3 replicas)", types, want)
	}
	if attempts != 4 {
		t.Errorf("%d delivery attempts, want 4 (two refused, the event again, then the recovery)", attempts)
	}
	if len(accepted) > 0 && !strings.Contains(accepted[0].Reason, "invalid_grant") {
		t.Errorf("reason %q does not say the provider refused the refresh token", accepted[0].Reason)
	}
	for i, gw := range replicas {
		log := gw.FinalLog(t)
		for _, canary := range []string{webhookSigningKey, "ops-CANARY", "rt-unknown-to-the-provider", asClientSecret} {
			if strings.Contains(log, canary) {
				t.Errorf("replica %d logged %q", i, canary)
			}
		}
	}
}
