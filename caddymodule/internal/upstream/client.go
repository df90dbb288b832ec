// Package upstream sends a rendered widget call to its provider and turns
// the answer into what the widget receives: the JSON envelope, or the raw
// response streamed as it came.
package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/egress"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
)

// Config tunes the outbound client. Zero values take the defaults below.
type Config struct {
	DialTimeout           time.Duration // default 5s
	TLSHandshakeTimeout   time.Duration // default 5s
	ResponseHeaderTimeout time.Duration // default 30s
	// Timeout bounds a whole envelope-mode call, body included, and a raw
	// call up to its response headers. Default 30s.
	Timeout             time.Duration
	IdleConnTimeout     time.Duration // default 90s
	MaxIdleConnsPerHost int           // default 256
	// IdleTimeout bounds silence while a raw-mode body streams. Default 30s.
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes bounds the provider's response headers. Default 64 KiB.
	MaxResponseHeaderBytes int64
	// RootCAs replaces the system roots (tests, private CAs); nil = system.
	RootCAs *x509.CertPool
	// UserAgent is sent when the schema sets none. Default "widgetgate".
	UserAgent string
	// Egress says which addresses may be connected to.
	Egress egress.Policy
	// Compression asks providers for gzip (Accept-Encoding: gzip) instead
	// of identity; answers are decoded before masking either way.
	Compression bool
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.TLSHandshakeTimeout, 5*time.Second)
	def(&c.ResponseHeaderTimeout, 30*time.Second)
	def(&c.Timeout, 30*time.Second)
	def(&c.IdleConnTimeout, 90*time.Second)
	def(&c.IdleTimeout, 30*time.Second)
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = 256
	}
	if c.MaxResponseHeaderBytes <= 0 {
		c.MaxResponseHeaderBytes = 64 << 10
	}
	if c.UserAgent == "" {
		c.UserAgent = "widgetgate"
	}
}

// DefaultDialTimeout bounds connecting to a provider unless configured;
// token endpoints are dialled with it too.
const DefaultDialTimeout = 5 * time.Second

// Client sends calls over one shared pool of kept-alive connections.
type Client struct {
	cfg       Config
	transport *transport
}

// NewClient builds a client. It opens no connection. There is no proxy
// setting: an HTTPS_PROXY set for some other tool must not silently route
// every customer's tokens through it. Compression is ours to choose, not
// the schema's (see acceptEncoding and decodeBody).
func NewClient(cfg Config) *Client {
	cfg.defaults()
	return &Client{cfg: cfg, transport: &transport{
		dial:                  cfg.Egress.DialContext(cfg.DialTimeout, 30*time.Second),
		tls:                   &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs},
		tlsHandshakeTimeout:   cfg.TLSHandshakeTimeout,
		responseHeaderTimeout: cfg.ResponseHeaderTimeout,
		maxHeaderBytes:        cfg.MaxResponseHeaderBytes,
		maxIdlePerHost:        cfg.MaxIdleConnsPerHost,
		idleTimeout:           cfg.IdleConnTimeout,
	}}
}

// Close closes the idle connections, and those in use as their calls end.
func (c *Client) Close() { c.transport.closeIdle() }

// Timeout is the configured call deadline.
func (c *Client) Timeout() time.Duration { return c.cfg.Timeout }

// IdleTimeout is how long a streamed body may stall.
func (c *Client) IdleTimeout() time.Duration { return c.cfg.IdleTimeout }

// NewRequest builds the outbound request for api, sent to u (the API's URL
// template rendered with the caller's params). Only the schema decides its
// method, origin, headers and body. user is the caller's user id ("" when
// none) and token the passport's access token. Errors are
// *urltemplate.ParamError.
func (c *Client) NewRequest(ctx context.Context, api *schema.API, u *url.URL, user, token string) (*http.Request, error) {
	h := make(http.Header, len(api.Headers)+2)
	for _, sh := range api.Headers {
		v, err := sh.Value.Render(token, user)
		if err != nil {
			return nil, err
		}
		h[sh.Name] = []string{v}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{c.cfg.UserAgent}
	}
	h["Accept-Encoding"] = []string{acceptEncoding(c.cfg.Compression)}
	if api.BodyContentType != "" {
		h["Content-Type"] = []string{api.BodyContentType}
	}
	req := (&http.Request{
		Method:     api.Method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       u.Host,
	}).WithContext(ctx)
	if api.Body != nil {
		req.ContentLength = int64(len(api.Body))
		req.Body = io.NopCloser(bytes.NewReader(api.Body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(api.Body)), nil }
	}
	return req, nil
}

// Do sends req. The error, if any, is ErrTimeout or ErrUnreachable wrapped
// around a description that names the provider's origin but never the
// request's headers; secrets are masked out of it, since a parse error
// quotes what the provider sent, which may echo the request.
//
// Redirects are never followed: a redirect is the provider's answer,
// given back to the widget; following it would send the token to wherever
// it points.
func (c *Client) Do(req *http.Request, secrets *Secrets) (*http.Response, error) {
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		e := classify(req, err)
		e.Cause = secrets.MaskString(e.Cause)
		return nil, e
	}
	if err := decodeBody(resp); err != nil {
		resp.Body.Close()
		return nil, &Error{Kind: ErrEncoding, Origin: req.URL.Scheme + "://" + req.URL.Host, Cause: secrets.MaskString(err.Error())}
	}
	return resp, nil
}

// Upstream failure classes.
var (
	ErrTimeout     = errors.New("upstream timeout")
	ErrUnreachable = errors.New("upstream unreachable")
	ErrTooLarge    = errors.New("upstream response too large")
	ErrEgress      = egress.ErrDenied
)

func classify(req *http.Request, err error) *Error {
	origin := req.URL.Scheme + "://" + req.URL.Host
	var ee *egress.Error
	if errors.As(err, &ee) {
		return &Error{Kind: ErrEgress, Origin: origin, Cause: ee.Error()}
	}
	// A connect that times out means the provider cannot be reached; only
	// a provider that accepted the call and then went quiet timed out.
	var oe *net.OpError
	dial := errors.As(err, &oe) && oe.Op == "dial"
	var ne net.Error
	if !dial && (errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())) {
		return &Error{Kind: ErrTimeout, Origin: origin}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Kind: context.Canceled, Origin: origin}
	}
	// url.Error's text includes the full URL (with the caller's params);
	// keep only the innermost cause.
	cause := err
	for {
		next := errors.Unwrap(cause)
		if next == nil {
			break
		}
		cause = next
	}
	return &Error{Kind: ErrUnreachable, Origin: origin, Cause: cause.Error()}
}

// Error is a failed upstream call.
type Error struct {
	Kind   error
	Origin string
	Cause  string
}

func (e *Error) Error() string {
	if e.Cause == "" {
		return e.Kind.Error() + ": " + e.Origin
	}
	return e.Kind.Error() + ": " + e.Origin + ": " + e.Cause
}

func (e *Error) Unwrap() error { return e.Kind }
