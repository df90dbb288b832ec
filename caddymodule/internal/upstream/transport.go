package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// transport sends one request at a time per connection over HTTP/1.1,
// synchronously, from a pool of kept-alive connections.
//
// Why not net/http's Transport: for each call it hands the request to a
// writer goroutine and the response back from a reader goroutine, and the
// reader then blocks in a read for the next response; on the one core a
// sidecar is given, those switches and the extra read cost about a fifth of
// the CPU of a forwarded call (BENCHMARKS.md). Here the caller's goroutine
// writes the request and reads the response itself. Parsing and framing
// stay the standard library's (Request.Write, http.ReadResponse).
//
// It speaks HTTP/1.1 only, also over TLS (ALPN "http/1.1"): every provider
// API serves it, and a pool of kept-alive connections gives a sidecar what
// HTTP/2 multiplexing would.
type transport struct {
	dial                  func(ctx context.Context, network, addr string) (net.Conn, error)
	tls                   *tls.Config
	tlsHandshakeTimeout   time.Duration
	responseHeaderTimeout time.Duration
	maxHeaderBytes        int64
	maxIdlePerHost        int
	idleTimeout           time.Duration

	mu     sync.Mutex
	idle   map[string][]*conn // by scheme://host:port; most recently used last
	closed bool               // after closeIdle: connections are no longer kept
}

// conn is one connection to a provider.
type conn struct {
	net.Conn
	key    string
	m      *meter // under br and bw
	br     *bufio.Reader
	bw     *bufio.Writer
	reused bool
	idleAt time.Time
}

// meter counts the bytes of the current exchange each way, and bounds
// what may be read (the response header) while budget is set.
type meter struct {
	c             net.Conn
	budget        int64
	read, written int64
}

var errHeaderTooLarge = errors.New("the provider's response headers are too large")

func (m *meter) Read(p []byte) (int, error) {
	if m.budget <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > m.budget {
		p = p[:m.budget]
	}
	n, err := m.c.Read(p)
	m.budget -= int64(n)
	m.read += int64(n)
	return n, err
}

func (m *meter) Write(p []byte) (int, error) {
	n, err := m.c.Write(p)
	m.written += int64(n)
	return n, err
}

// aLongTimeAgo is a deadline in the past: setting it makes any blocked
// read or write on the connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

// RoundTrip sends req and reads the response's header. The body, read to
// its end, gives the connection back to the pool; closed earlier, it
// closes the connection. A request on a kept-alive connection the
// provider had closed meanwhile is sent again once on a new connection,
// when that is safe: nothing of it was sent, or it is replayable and
// nothing came back.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	scheme, addr, err := target(req)
	if err != nil {
		return nil, err
	}
	key := scheme + "://" + addr
	fresh := false
	for {
		c, err := t.get(req.Context(), key, fresh)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(c, req)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		nothingSent := c.m.written == 0
		nothingBack := c.m.read == 0 && !isTimeout(err)
		if !c.reused || fresh || !(nothingSent || nothingBack && replayable(req)) {
			return nil, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, err
			}
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		fresh = true
	}
}

// exchange writes req on c and reads the response's header.
func (t *transport) exchange(c *conn, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	if t.responseHeaderTimeout > 0 {
		c.SetDeadline(time.Now().Add(t.responseHeaderTimeout))
	}
	c.m.budget, c.m.read, c.m.written = t.maxHeaderBytes, 0, 0
	err := req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	var resp *http.Response
	for err == nil {
		if resp, err = http.ReadResponse(c.br, req); err != nil {
			break
		}
		// 1xx answers are interim (100 Continue, 103 Early Hints): the
		// real one follows. 101 would switch protocols, which no widget
		// call asks for.
		if resp.StatusCode == http.StatusSwitchingProtocols {
			err = errors.New("the provider switched protocols unasked (101)")
		} else if resp.StatusCode >= 200 {
			break
		}
		resp.Body.Close()
	}
	if err != nil {
		stop()
		return nil, err
	}
	c.m.budget = math.MaxInt64
	c.SetDeadline(time.Time{})
	if ctx.Err() != nil {
		c.SetDeadline(aLongTimeAgo) // the context ended while the deadline was reset
	}
	resp.Body = &body{ReadCloser: resp.Body, t: t, c: c, stop: stop, reuse: !resp.Close && !req.Close}
	return resp, nil
}

// body gives the connection back once the response is read to its end.
type body struct {
	io.ReadCloser
	t     *transport
	c     *conn
	stop  func() bool
	reuse bool
	done  bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.release(err == io.EOF)
	}
	return n, err
}

func (b *body) Close() error {
	if !b.done {
		b.release(false)
	}
	return nil
}

func (b *body) release(complete bool) {
	b.done = true
	// stop fails when the context already ended: the connection's deadline
	// may be poisoned, so it is not reused.
	if b.stop() && complete && b.reuse {
		b.t.put(b.c)
		return
	}
	b.c.Close()
}

// get returns an idle connection for key, or dials one (always when fresh).
func (t *transport) get(ctx context.Context, key string, fresh bool) (*conn, error) {
	if !fresh {
		now := time.Now()
		t.mu.Lock()
		for l := t.idle[key]; len(l) > 0; l = t.idle[key] {
			c := l[len(l)-1]
			l[len(l)-1] = nil
			t.idle[key] = l[:len(l)-1]
			if now.Sub(c.idleAt) < t.idleTimeout {
				t.mu.Unlock()
				c.reused = true
				return c, nil
			}
			c.Close()
		}
		t.mu.Unlock()
	}
	return t.connect(ctx, key)
}

// connect dials key ("http://host:port" or "https://host:port").
func (t *transport) connect(ctx context.Context, key string) (*conn, error) {
	scheme, addr, _ := strings.Cut(key, "://")
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if scheme == "https" {
		host, _, _ := net.SplitHostPort(addr)
		cfg := t.tls.Clone()
		cfg.ServerName = host
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(ctx, t.tlsHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	m := &meter{c: nc}
	return &conn{Conn: nc, key: key, m: m, br: bufio.NewReaderSize(m, 4<<10), bw: bufio.NewWriterSize(m, 4<<10)}, nil
}

// put keeps c for reuse, unless the pool for its host is full.
func (t *transport) put(c *conn) {
	c.idleAt = time.Now()
	t.mu.Lock()
	if l := t.idle[c.key]; !t.closed && len(l) < t.maxIdlePerHost {
		if t.idle == nil {
			t.idle = map[string][]*conn{}
		}
		t.idle[c.key] = append(l, c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	c.Close()
}

// closeIdle closes every pooled connection, and those in use as their
// calls end (the client is being retired, e.g. by a config reload).
func (t *transport) closeIdle() {
	t.mu.Lock()
	idle := t.idle
	t.idle, t.closed = nil, true
	t.mu.Unlock()
	for _, l := range idle {
		for _, c := range l {
			c.Close()
		}
	}
}

// target returns the scheme and host:port req goes to.
func target(req *http.Request) (scheme, addr string, err error) {
	u := req.URL
	port := u.Port()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", fmt.Errorf("unsupported scheme %q", u.Scheme)
	case port == "" && u.Scheme == "http":
		port = "80"
	case port == "":
		port = "443"
	}
	return u.Scheme, net.JoinHostPort(u.Hostname(), port), nil
}

// replayable: requests that may be sent twice (RFC 9110 idempotent methods).
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
