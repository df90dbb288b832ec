package upstream

import (
	"io"
	"net/http"
	"sync"
	"time"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Stream writes resp to w as it came — status, the headers a widget may
// see, and the body — in constant memory, whatever the body's size. It
// closes resp.Body. A body that stalls for longer than idle is cut off by
// calling abort (which cancels the upstream request). An error after the
// status line is written can only cut the body short; the caller cannot
// send a problem any more.
func Stream(w http.ResponseWriter, resp *http.Response, token string, idle time.Duration, abort func()) error {
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
	// No overall deadline here: a large download may take long. What is
	// bounded is silence, so a provider that stops mid-body frees the
	// connection.
	timer := time.AfterFunc(idle, abort)
	defer timer.Stop()
	for {
		n, err := resp.Body.Read(*buf)
		timer.Reset(idle)
		if n > 0 {
			if _, werr := w.Write((*buf)[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
