package upstream

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Stream writes resp to w as it came — status, the headers a widget may
// see, and the body with secrets masked — in constant memory, whatever the
// body's size. It closes resp.Body. A provider whose body stalls for
// longer than idle is cut off by calling abort (which cancels the upstream
// request). Only the provider's reads are timed: a widget that reads
// slowly is the server's business (its write timeout), not a stalled
// provider. An error after the status line is written can only cut the
// body short; the caller cannot send a problem any more.
func Stream(w http.ResponseWriter, resp *http.Response, secrets *Secrets, idle time.Duration, abort func()) error {
	defer resp.Body.Close()
	h := w.Header()
	ResponseHeaders(resp, secrets, func(name string, values []string) { h[name] = values })
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
	out := secrets.writer(w)
	for {
		timer.Reset(idle)
		n, err := resp.Body.Read(*buf)
		timer.Stop()
		if n > 0 {
			if werr := out.write((*buf)[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return out.flush()
		}
		if err != nil {
			out.flush()
			return err
		}
	}
}

// redactor masks the access token in a stream, in case the provider
// echoes the request (debug endpoints, error pages). The mask has the
// token's length, so a Content-Length the provider sent stays right. A
// tail of each chunk that could begin the token is held back until the
// next one, so a token split across reads is caught too.
type redactor struct {
	w      io.Writer
	token  []byte
	search tokenSearch
	held   []byte    // a tail written to us that could begin the token, not yet passed on
	join   []byte    // held plus the start of the next chunk, to find tokens across the seam
	next   *redactor // w, when it masks another secret form
}

// newRedactor masks token and, when it has one, its JSON-escaped form.
func newRedactor(w io.Writer, token string) *redactor {
	return NewSecrets(token).writer(w)
}

// Write lets a redactor write into another: p is masked in place.
func (r *redactor) Write(p []byte) (int, error) { return len(p), r.write(p) }

// write masks p in place (p is the caller's scratch buffer) and passes it
// on, holding back its tail: no copy of the chunk, no allocation per chunk.
func (r *redactor) write(p []byte) error {
	n := len(r.token)
	if n == 0 {
		_, err := r.w.Write(p)
		return err
	}
	if len(p) < n {
		// A chunk shorter than the token (rare: network reads are large):
		// accumulate, mask, and pass on all but the last n-1 bytes.
		r.held = append(r.held, p...)
		for i := 0; ; {
			j := r.search.index(r.held[i:])
			if j < 0 {
				break
			}
			mask(r.held[i+j : i+j+n])
			i += j + n
		}
		if out := len(r.held) - (n - 1); out > 0 {
			if _, err := r.w.Write(r.held[:out]); err != nil {
				return err
			}
			r.held = append(r.held[:0], r.held[out:]...)
		}
		return nil
	}
	if len(r.held) > 0 {
		// Tokens that start in the held tail and end in p.
		r.join = append(append(r.join[:0], r.held...), p[:min(n-1, len(p))]...)
		for i := 0; i < len(r.held); i++ {
			if bytes.HasPrefix(r.join[i:], r.token) {
				for j := i; j < i+n; j++ {
					if j < len(r.held) {
						r.held[j] = '*'
					} else {
						p[j-len(r.held)] = '*'
					}
				}
			}
		}
		if _, err := r.w.Write(r.held); err != nil {
			return err
		}
		r.held = r.held[:0]
	}
	for i := 0; ; {
		j := r.search.index(p[i:])
		if j < 0 {
			break
		}
		mask(p[i+j : i+j+n])
		i += j + n
	}
	keep := len(p) - tokenStart(p, r.token)
	if _, err := r.w.Write(p[:len(p)-keep]); err != nil {
		return err
	}
	r.held = append(r.held, p[len(p)-keep:]...)
	return nil
}

// tokenStart returns where the longest tail of p that could begin the
// token starts (len(p) when none can): only that tail must wait for the
// next chunk, so the usual chunk goes out whole, in one write.
func tokenStart(p, token []byte) int {
	for i := max(0, len(p)-(len(token)-1)); i < len(p); i++ {
		if p[i] == token[0] && bytes.HasPrefix(token, p[i:]) {
			return i
		}
	}
	return len(p)
}

// flush writes the held bytes, masking a tail that starts the token (a
// stream cut inside an echoed token must not leak most of it).
func (r *redactor) flush() error {
	if len(r.held) > 0 {
		for n := min(len(r.held), len(r.token)-1); n >= 4; n-- {
			if bytes.Equal(r.held[len(r.held)-n:], r.token[:n]) {
				mask(r.held[len(r.held)-n:])
				break
			}
		}
		_, err := r.w.Write(r.held)
		r.held = r.held[:0]
		if err != nil {
			return err
		}
	}
	if r.next != nil {
		return r.next.flush()
	}
	return nil
}

func mask(b []byte) {
	for i := range b {
		b[i] = '*'
	}
}
