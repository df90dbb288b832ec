package upstream

import (
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Redacted replaces the access token wherever a provider echoes it.
const Redacted = "[REDACTED]"

// Envelope reads resp's body (at most maxBody bytes, else ErrTooLarge with
// nothing written) and returns the JSON envelope widgets expect:
//
//	{"statusCode","statusText","body","headers","contentType","isSuccess"}
//
// A JSON body is embedded as it came, without decoding and re-encoding; text
// becomes a string; anything else is base64 with "bodyEncoding":"base64".
// Every part taken from the provider is masked with secrets. It consumes
// and closes resp.Body. The envelope is in a pooled buffer: call its
// Release once it is written.
func Envelope(resp *http.Response, secrets *Secrets, maxBody int64) (*Buffer, error) {
	defer resp.Body.Close()
	in := getBuffer(resp.ContentLength + 1) // +1: see readCapped
	defer in.Release()
	body, err := readCapped(in.b[:0], resp.Body, resp.ContentLength, maxBody)
	in.b = body // keep what readCapped grew, for the pool
	if err != nil {
		return nil, err
	}
	// Some APIs echo the request (debug endpoints, errors quoting the
	// Authorization header). The widget must never see the credential.
	body = secrets.maskBytes(body)
	contentType := secrets.MaskString(resp.Header.Get("Content-Type"))

	env := getBuffer(int64(len(body)) + 512)
	out := env.b[:0]
	out = append(out, `{"statusCode":`...)
	out = strconv.AppendInt(out, int64(resp.StatusCode), 10)
	out = append(out, `,"statusText":`...)
	out = appendString(out, secrets.MaskString(statusText(resp)))
	out = append(out, `,"body":`...)
	switch kind := bodyKind(contentType, body); kind {
	case kindJSON:
		out = append(out, body...)
	case kindText:
		out = appendString(out, string(body))
	default:
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, body)
		out = append(out, `","bodyEncoding":"base64"`...)
	}
	out = append(out, `,"headers":{`...)
	out = appendHeaders(out, resp, secrets)
	out = append(out, `},"contentType":`...)
	out = appendString(out, contentType)
	out = append(out, `,"isSuccess":`...)
	out = strconv.AppendBool(out, resp.StatusCode >= 200 && resp.StatusCode < 300)
	out = append(out, '}')
	env.b = out
	return env, nil
}

// Buffer holds bytes from a pool. Envelopes are as large as the
// provider's answer; reusing their memory spares the garbage collector a
// fresh allocation of that size per call.
type Buffer struct{ b []byte }

// Bytes returns the buffer's content, valid until Release.
func (b *Buffer) Bytes() []byte { return b.b }

// Release returns the buffer to the pool; it must not be used after.
func (b *Buffer) Release() {
	// Keep rare huge buffers out of the pool, so one 10 MiB answer does
	// not pin 10 MiB per pooled buffer for the process's life.
	if cap(b.b) <= maxPooled {
		b.b = b.b[:0]
		buffers.Put(b)
	}
}

const maxPooled = 1 << 20

var buffers = sync.Pool{New: func() any { return &Buffer{b: make([]byte, 0, 4<<10)} }}

// getBuffer returns an empty pooled buffer with room for size bytes.
func getBuffer(size int64) *Buffer {
	b := buffers.Get().(*Buffer)
	if size > int64(cap(b.b)) && size <= maxPooled {
		b.b = make([]byte, 0, size)
	}
	return b
}

// readCapped appends r to buf, whole, unless it is longer than limit.
func readCapped(buf []byte, r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength > limit {
		return buf, ErrTooLarge
	}
	if contentLength >= 0 {
		buf = slices.Grow(buf, int(contentLength)+1) // +1: EOF is seen without growing
	}
	for {
		if int64(len(buf)) > limit {
			return buf, ErrTooLarge
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(cap(buf), 512), int(limit+1)-len(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)) > limit {
				return buf, ErrTooLarge
			}
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func statusText(resp *http.Response) string {
	// resp.Status is "404 Not Found"; the envelope wants the phrase only.
	if _, phrase, ok := strings.Cut(resp.Status, " "); ok && phrase != "" {
		return phrase
	}
	return http.StatusText(resp.StatusCode)
}

type kind int

const (
	kindJSON kind = iota
	kindText
	kindBinary
)

func bodyKind(contentType string, body []byte) kind {
	if len(body) == 0 {
		return kindText
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	jsonType := mt == "application/json" || strings.HasSuffix(mt, "+json")
	textType := strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+xml") || mt == "application/xml" ||
		mt == "application/javascript" || mt == "application/x-www-form-urlencoded"
	switch {
	// Embedding raw bytes is only safe when they are one valid JSON value;
	// an untyped body is embedded when it is one.
	case (jsonType || mt == "") && validJSON(body):
		return kindJSON
	case (jsonType || textType || mt == "") && utf8.Valid(body):
		return kindText
	}
	return kindBinary
}

// appendHeaders writes lower-case header names, sorted so the envelope is
// byte-for-byte reproducible, with repeated values joined by ", ".
func appendHeaders(out []byte, resp *http.Response, secrets *Secrets) []byte {
	type kv struct {
		name   string
		values []string
	}
	headers := make([]kv, 0, len(resp.Header))
	ResponseHeaders(resp, secrets, func(name string, values []string) {
		headers = append(headers, kv{strings.ToLower(name), values})
	})
	slices.SortFunc(headers, func(a, b kv) int { return strings.Compare(a.name, b.name) })
	for i, h := range headers {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, h.name)
		out = append(out, ':')
		out = appendString(out, strings.Join(h.values, ", "))
	}
	return out
}

// appendString appends s as a JSON string. Invalid UTF-8 (possible only in
// header values) becomes U+FFFD, as encoding/json does.
func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
				out = append(out, s[start:i]...)
				if r == utf8.RuneError {
					out = append(out, `\ufffd`...)
				} else {
					out = append(out, `\u202`...)
					out = append(out, hexDigits[r&0xF])
				}
				start = i + size
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			i++
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			// Control characters, and <, >, & escaped as encoding/json does
			// so the envelope is safe even if someone renders it as HTML.
			out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

const hexDigits = "0123456789abcdef"
