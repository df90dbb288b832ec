package standin

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Unauthenticated utility routes that exercise the gateway: text, an
// image, any status, Set-Cookie, and big, streamed and slow bodies.

func handleText(w http.ResponseWriter, _ *http.Request) {
	writeRaw(w, http.StatusOK, textPlain, textBody)
}

func handleImage(w http.ResponseWriter, _ *http.Request) {
	img := pngImage()
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(img)
}

func handleStatus(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	// 1xx codes are informational and cannot end a response, and
	// WriteHeader panics outside 100-999, so only final codes are allowed.
	if err != nil || code < 200 || code > 599 {
		writeRaw(w, http.StatusBadRequest, plainJSON, `{"error":"status must be an integer between 200 and 599"}`)
		return
	}
	writeRaw(w, code, plainJSON, fmt.Sprintf(`{"status":%d}`, code))
}

func handleSetCookie(w http.ResponseWriter, r *http.Request) {
	// Echoing the credential back lets tests check that the gateway strips
	// upstream headers that could leak it to the caller.
	w.Header().Set("Set-Cookie", "session=abc")
	w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
	writeRaw(w, http.StatusOK, plainJSON, `{}`)
}

// sizeParam parses a non-negative integer query parameter, defaulting to def.
func sizeParam(r *http.Request, name string, def int64) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}

// handleBig serves {"data":"aaa..."} of exactly N bytes (or the 11-byte
// minimum). It is written in chunks so huge documents need no big buffer.
func handleBig(w http.ResponseWriter, r *http.Request) {
	n, ok := sizeParam(r, "bytes", 1<<20)
	if !ok {
		writeRaw(w, http.StatusBadRequest, plainJSON, `{"error":"bytes must be a non-negative integer"}`)
		return
	}
	const prefix, suffix = `{"data":"`, `"}`
	fill := max(n-int64(len(prefix)+len(suffix)), 0)
	w.Header().Set("Content-Type", plainJSON)
	w.Header().Set("Content-Length", strconv.FormatInt(fill+int64(len(prefix)+len(suffix)), 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, prefix); err != nil {
		return
	}
	if err := writeRepeated(w, bytes.Repeat([]byte{'a'}, 32<<10), fill); err != nil {
		return
	}
	_, _ = io.WriteString(w, suffix)
}

// handleStream streams N bytes of a repeating 0x00..0xff pattern without a
// Content-Length, flushing as it goes, so the response is chunked and never
// buffered in full on either side.
func (p *Provider) handleStream(w http.ResponseWriter, r *http.Request) {
	n, ok := sizeParam(r, "bytes", 1<<20)
	if !ok {
		writeRaw(w, http.StatusBadRequest, plainJSON, `{"error":"bytes must be a non-negative integer"}`)
		return
	}
	buf := make([]byte, 32<<10)
	for i := range buf {
		// 32 KiB is a multiple of 256, so the pattern stays continuous
		// across chunk boundaries.
		buf[i] = byte(i)
	}
	w.Header().Set("Content-Type", octetStream)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	p.streamWrote.Store(time.Now().UnixNano())
	p.streaming.Store(true)
	defer p.streaming.Store(false)
	_ = writeRepeatedFunc(w, buf, n, func() error {
		p.streamWrote.Store(time.Now().UnixNano())
		if err := r.Context().Err(); err != nil {
			return err
		}
		// Flushing is best effort: recorders or wrappers may not support it.
		_ = rc.Flush()
		return nil
	})
}

// StreamStalled reports how long the /stream answer in progress has been
// blocked in a write (its client, or a gateway in between, not reading),
// and whether one is in progress at all.
func (p *Provider) StreamStalled() (time.Duration, bool) {
	if !p.streaming.Load() {
		return 0, false
	}
	return time.Since(time.Unix(0, p.streamWrote.Load())), true
}

// writeRepeated writes n bytes taken cyclically from buf.
func writeRepeated(w io.Writer, buf []byte, n int64) error {
	return writeRepeatedFunc(w, buf, n, nil)
}

// writeRepeatedFunc writes n bytes taken cyclically from buf, calling after
// (if non-nil) after every chunk; an error from after or from w stops it.
func writeRepeatedFunc(w io.Writer, buf []byte, n int64, after func() error) error {
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		n -= int64(len(chunk))
		if after != nil {
			if err := after(); err != nil {
				return err
			}
		}
	}
	return nil
}

// handleSlow waits ms milliseconds before answering, giving up as soon as
// the client goes away so tests of gateway timeouts do not leak handlers.
func handleSlow(w http.ResponseWriter, r *http.Request) {
	ms, ok := sizeParam(r, "ms", 0)
	if !ok {
		writeRaw(w, http.StatusBadRequest, plainJSON, `{"error":"ms must be a non-negative integer"}`)
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		writeRaw(w, http.StatusOK, plainJSON, `{}`)
	case <-r.Context().Done():
	}
}
