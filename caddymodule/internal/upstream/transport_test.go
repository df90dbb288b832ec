package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serve starts a test server with start (Start or StartTLS) and returns
// it with the count of connections it has accepted.
func serve(t *testing.T, h http.HandlerFunc, start func(*httptest.Server)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	var n atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	start(srv)
	t.Cleanup(srv.Close)
	return srv, &n
}

func answerOK(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

func do(t *testing.T, c *Client, method, url string, body io.Reader) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req, nil)
}

// readAll reads and closes resp's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// getBody GETs url, fails the test on an error and returns the body.
func getBody(t *testing.T, c *Client, url string) string {
	t.Helper()
	resp, err := do(t, c, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, resp)
}

func TestTransportKeepAlive(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		// readBody: read the body to its end (else close it unread).
		readBody  bool
		wantConns int64
	}{
		{"sized body read to the end", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }, true, 1},
		{"chunked body read to the end", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hel")
			w.(http.Flusher).Flush()
			io.WriteString(w, "lo")
		}, true, 1},
		{"empty 204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, true, 1},
		{"interim 103 before the answer", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "hello")
		}, true, 1},
		{"body closed unread", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 64<<10)) }, false, 10},
		{"provider says close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "hello")
		}, true, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := serve(t, tc.handler, (*httptest.Server).Start)
			c := testClient(t)
			for range 10 {
				resp, err := do(t, c, "GET", srv.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode >= 200 && resp.StatusCode < 300 && tc.readBody {
					if got := readAll(t, resp); resp.StatusCode == 200 && got != "hello" {
						t.Fatalf("body %q", got)
					}
				} else {
					resp.Body.Close()
				}
			}
			if got := conns.Load(); got != tc.wantConns {
				t.Errorf("%d connections for 10 calls, want %d", got, tc.wantConns)
			}
		})
	}
}

func TestTransportIdleTimeout(t *testing.T) {
	srv, conns := serve(t, answerOK, (*httptest.Server).Start)
	c := testClient(t)
	c.transport.idleTimeout = time.Nanosecond // every idle connection is too old to reuse
	for range 3 {
		getBody(t, c, srv.URL)
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("%d connections, want 3 (no reuse past the idle timeout)", got)
	}
}

// After Close (a config reload retires the client), calls still in
// flight finish, but their connections are closed rather than kept.
func TestTransportClosedKeepsNothing(t *testing.T) {
	srv, conns := serve(t, answerOK, (*httptest.Server).Start)
	c := testClient(t)
	inFlight, err := do(t, c, "GET", srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	readAll(t, inFlight)
	if n := len(c.transport.idle); n != 0 {
		t.Fatalf("%d hosts with kept connections after Close", n)
	}
	getBody(t, c, srv.URL)
	if got := conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2 (nothing reused after Close)", got)
	}
}

// oneShotServer answers one request per connection, without saying it
// will close, then closes: every kept-alive connection goes stale.
func oneShotServer(t *testing.T) (url string, requests func(method string) int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				mu.Lock()
				seen[req.Method]++
				mu.Unlock()
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String(), func(method string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[method]
	}
}

func TestTransportStaleConnection(t *testing.T) {
	url, requests := oneShotServer(t)
	c := testClient(t)
	for i := range 5 {
		// A GET is replayable: a stale connection is retried on a new one.
		if got := getBody(t, c, url); got != "ok" {
			t.Fatalf("GET %d: body %q", i, got)
		}
	}
	if got := requests("GET"); got != 5 {
		t.Errorf("the provider saw %d GETs, want 5", got)
	}
	// A POST is not replayable: it is sent again only if none of it was
	// sent. Whatever happens, the provider never sees it twice.
	for i := range 5 {
		before := requests("POST")
		resp, err := do(t, c, "POST", url, strings.NewReader("x"))
		if err == nil {
			readAll(t, resp)
		}
		after := requests("POST")
		if after-before > 1 || (err == nil) != (after-before == 1) {
			t.Fatalf("POST %d: err %v, the provider saw it %d times", i, err, after-before)
		}
	}
}

func TestTransportLimitsAndTimeouts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big-header":
			w.Header().Set("X-Big", strings.Repeat("a", 2<<10))
		case "/slow-header":
			<-r.Context().Done()
			return
		case "/slow-body":
			io.WriteString(w, "start")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := testClient(t)
	c.transport.maxHeaderBytes = 1 << 10
	c.transport.responseHeaderTimeout = 50 * time.Millisecond

	if _, err := do(t, c, "GET", srv.URL+"/big-header", nil); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("big header: err = %v, want too large", err)
	}
	if _, err := do(t, c, "GET", srv.URL+"/slow-header", nil); !errors.Is(err, ErrTimeout) {
		t.Errorf("slow header: err = %v, want ErrTimeout", err)
	}
	// The header timeout does not cut a body that is still coming; the
	// caller's context does.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/slow-body", nil)
	resp, err := c.Do(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "start" {
		t.Fatalf("read %q, %v", buf, err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("reading a body after its context ended did not fail")
	}
	resp.Body.Close()
	// The client still works after all that.
	if got := getBody(t, c, srv.URL); got != "ok" {
		t.Errorf("a call after the failures: body %q", got)
	}
}

func TestTransportTLS(t *testing.T) {
	var protos sync.Map
	srv, conns := serve(t, func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		io.WriteString(w, "secure")
	}, func(srv *httptest.Server) {
		srv.EnableHTTP2 = true // it would speak HTTP/2 if asked; we ask for HTTP/1.1
		srv.StartTLS()
	})
	c := testClient(t)
	c.transport.tls = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	for range 3 {
		if got := getBody(t, c, srv.URL); got != "secure" {
			t.Fatalf("body %q", got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d TLS connections for 3 calls, want 1", n)
	}
	if _, ok := protos.Load("HTTP/1.1"); !ok {
		t.Error("the call was not HTTP/1.1")
	}

	// A certificate the client does not trust is refused.
	untrusted := testClient(t)
	if _, err := do(t, untrusted, "GET", srv.URL, nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("untrusted certificate: err = %v, want ErrUnreachable", err)
	}
}
