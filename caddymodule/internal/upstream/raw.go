package upstream

import (
	"io"
	"net/http"
	"sync"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Stream writes resp to w as it came — status, the headers a widget may
// see, and the body — in constant memory, whatever the body's size. It
// closes resp.Body. An error after the status line is written can only cut
// the body short; the caller cannot send a problem any more.
func Stream(w http.ResponseWriter, resp *http.Response, token string) error {
	defer resp.Body.Close()
	h := w.Header()
	ResponseHeaders(resp, token, func(name string, values []string) { h[name] = values })
	// The sidecar's origin serves the provider's bytes here; make sure a
	// browser never runs them as a page of that origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	w.WriteHeader(resp.StatusCode)
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	_, err := io.CopyBuffer(writerOnly{w}, resp.Body, *buf)
	return err
}

// writerOnly hides w's ReadFrom so io.CopyBuffer uses our pooled buffer
// instead of allocating its own for every response.
type writerOnly struct{ io.Writer }
