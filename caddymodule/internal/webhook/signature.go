package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>".
	SignatureHeader = "Widgetgate-Signature"
	// EventIDHeader carries Event.ID, so a receiver can drop a duplicate
	// before parsing the body.
	EventIDHeader = "Widgetgate-Event-Id"
	// EventTypeHeader carries Event.Type.
	EventTypeHeader = "Widgetgate-Event-Type"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns (wrapped, with detail).
var (
	// ErrNoSignature: the header is missing, malformed, or has no v1 entry.
	ErrNoSignature = errors.New("webhook signature missing or malformed")
	// ErrStale: the timestamp is further from now than the tolerance, so
	// the request may be a replay of one captured earlier.
	ErrStale = errors.New("webhook signature timestamp outside the tolerance")
	// ErrMismatch: no v1 entry is the HMAC of the body with the key.
	ErrMismatch = errors.New("webhook signature does not match")
)

// Sign returns the SignatureHeader value for body sent at t: the HMAC
// covers the timestamp too, so a receiver checking it against its clock
// refuses replays.
func Sign(key []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(key, ts, body))
}

// mac is HMAC-SHA256(key, "<ts>.<body>").
func mac(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a SignatureHeader value against body and key: the
// timestamp must be within tolerance of now (DefaultTolerance when
// tolerance <= 0) and one of the v1 entries must match. Several v1 entries
// are accepted so a sender can sign with an old and a new key while a
// rotation is under way; entries of other schemes are ignored. Errors wrap
// ErrNoSignature, ErrStale or ErrMismatch.
func Verify(key []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return err
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrNoSignature, ts)
	}
	if d := now.Sub(time.Unix(secs, 0)).Abs(); d > tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now, more than the tolerance of %s", ErrStale,
			time.Unix(secs, 0).UTC().Format(time.RFC3339), d.Round(time.Millisecond), tolerance)
	}
	want := mac(key, ts, body)
	for _, s := range sigs {
		// hmac.Equal is constant-time: comparing byte by byte would tell a
		// forger how much of a guess is right.
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w (%d v1 entries checked)", ErrMismatch, len(sigs))
}

// parseSignature splits "t=…,v1=…[,v1=…]" into the timestamp and the v1
// values.
func parseSignature(header string) (ts string, sigs []string, err error) {
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			if ts != "" {
				return "", nil, fmt.Errorf("%w: more than one timestamp", ErrNoSignature)
			}
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	switch {
	case strings.TrimSpace(header) == "":
		return "", nil, fmt.Errorf("%w: no %s header", ErrNoSignature, SignatureHeader)
	case ts == "":
		return "", nil, fmt.Errorf("%w: no t= timestamp", ErrNoSignature)
	case len(sigs) == 0:
		return "", nil, fmt.Errorf("%w: no v1= signature", ErrNoSignature)
	}
	return ts, sigs, nil
}
