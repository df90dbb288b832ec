package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Notifier. Zero values take the defaults.
type Config struct {
	// URLs receive every event. Each must be an absolute http or https URL
	// without user info; a query string may carry a receiver's secret, so
	// it is never logged.
	URLs []string
	// Key returns the signing key. It is called for every attempt, so the
	// key can live in Vault and be rotated there. Required.
	Key func(ctx context.Context) ([]byte, error)
	// Client sends the requests. Default: a client that does not follow
	// redirects (a redirected POST would be re-sent as a GET, unsigned
	// body lost) and uses the environment's proxy settings.
	Client *http.Client
	// RetryFor is how long an event is retried at a URL before it is
	// given up. Default 10m.
	RetryFor time.Duration
	// RetryBase and RetryMax bound the exponential backoff between
	// attempts. Defaults 1s and 1m.
	RetryBase, RetryMax time.Duration
	// AttemptTimeout bounds one attempt: reading the key, sending, and
	// reading the answer's status. Default 10s.
	AttemptTimeout time.Duration
	// QueueSize is how many events may wait per URL; beyond it, new
	// events are dropped (Notify never blocks). Default 1000.
	QueueSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// After waits between attempts; nil means time.After. Tests inject
	// one so retries need no sleeping.
	After func(time.Duration) <-chan time.Time
	// Logger gets deliveries, retries, drops and give-ups; nil discards.
	Logger *slog.Logger
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.RetryFor, 10*time.Minute)
	def(&c.RetryBase, time.Second)
	def(&c.RetryMax, time.Minute)
	def(&c.AttemptTimeout, 10*time.Second)
	if c.QueueSize <= 0 {
		c.QueueSize = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Client == nil {
		c.Client = &http.Client{
			// A 3xx is an answer like any other non-2xx: retried, then
			// given up, with the status logged for the operator to fix.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
}

// parseURL checks one configured URL. Its errors name the URL as
// redactRaw does: never its query or user info.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole input; name it without the query.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("webhook URL %q: %w", redactRaw(raw), err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("webhook URL %q: scheme must be http or https", redact(u))
	case u.Host == "":
		return nil, fmt.Errorf("webhook URL %q: must be absolute, with a host", redact(u))
	case u.User != nil:
		// Credentials in a URL end up in proxies' and servers' logs; a
		// receiver should authenticate us by the signature.
		return nil, fmt.Errorf("webhook URL %q: must not carry user info", redact(u))
	}
	return u, nil
}

// redact names u for logs and errors: scheme, host and path only. The
// query (and fragment, and user info) may hold a receiver's secret.
func redact(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// redactRaw is redact for a string that did not parse: cut at the first
// "?" or "#", and drop anything before an "@" in the authority.
func redactRaw(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		authority, path, _ := strings.Cut(rest, "/")
		if i := strings.LastIndex(authority, "@"); i >= 0 {
			authority = authority[i+1:]
		}
		raw = scheme + "://" + authority
		if path != "" || strings.Contains(rest, "/") {
			raw += "/" + path
		}
	}
	return raw
}
