// Command provider runs the stand-in upstream provider (Google Calendar,
// Microsoft Graph, a custom SaaS API and an OAuth token endpoint) on a local
// address, for the widgetgate demo when the real services are unreachable.
// The stand-in itself is internal/testenv/standin, which the tests use
// in-process; this program only serves it and logs each request.
//
// Usage:
//
//	go run ./examples/provider -addr 127.0.0.1:8931 -token demo-access-token -refresh-token demo-refresh-token
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8931", "address to listen on")
	token := flag.String("token", "demo-access-token", "access `token` accepted as a Bearer credential (empty: none)")
	refresh := flag.String("refresh-token", "", "refresh `token` accepted once by /oauth/token (rotated on use; empty: none)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	p := standin.New()
	if *token != "" {
		p.AddToken(*token)
	}
	if *refresh != "" {
		p.AddRefreshToken(*refresh)
	}

	// Listen before logging "listening" so the message is only printed once
	// the port is really bound (scripts wait for it).
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("provider: %v", err)
	}
	srv := &http.Server{
		Handler:           logRequests(p),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: /slow and /stream are meant to run long, and
		// the gateway under test is what should enforce deadlines.
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("provider: stand-in listening on http://%s", ln.Addr())

	select {
	case err := <-errc:
		log.Fatalf("provider: %v", err)
	case <-ctx.Done():
	}
	stop() // a second signal now kills the process the default way

	log.Printf("provider: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Printf("provider: shutdown: %v", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("provider: %v", err)
	}
}

// logRequests logs one line per request: method, path, status and duration.
// It deliberately logs only the path, never headers (Authorization) nor the
// query string, which may carry an access_token (RFC 6750 section 2.3).
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		log.Printf("%s %s %d %s", r.Method, r.URL.EscapedPath(), sw.status, time.Since(start).Round(time.Microsecond))
	})
}

// statusWriter remembers the response status for logging.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	// Only the first final status counts; 1xx responses may precede it.
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer, so
// flushing in /stream still works through this wrapper.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
