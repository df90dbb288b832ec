package standin

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"sort"
	"strings"
)

// Echo routes send the request's credential back: plainly (handleEcho,
// handleEchoMalformed), or hidden where a careless gateway would not look
// (the others). Real APIs do each of these: debug endpoints compress
// whatever the client accepts (and some compress anyway), buggy servers
// put request data in the reason phrase or a header parameter, PHP's
// json_encode escapes '/', and request-log endpoints list earlier calls.

// handleEcho plays the worst-behaved provider: it echoes every request
// header (the credential included) into its response headers and body, and
// on /echo/error into an HTML error page, as debug endpoints and some error
// pages do. Tests use it to prove the credential never reaches the widget.
func handleEcho(w http.ResponseWriter, r *http.Request) {
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	var page strings.Builder
	echoed := make(map[string]string, len(names))
	for _, name := range names {
		v := strings.Join(r.Header[name], ", ")
		echoed[name] = v
		w.Header().Set("X-Echo-"+name, v)
		fmt.Fprintf(&page, "<li>%s: %s</li>\n", html.EscapeString(name), html.EscapeString(v))
	}
	if r.URL.Path == "/echo/error" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "<html><body><h1>500 Internal Server Error</h1><p>Request headers:</p><ul>\n%s</ul></body></html>\n", page.String())
		return
	}
	body, _ := json.Marshal(map[string]any{"method": r.Method, "uri": r.URL.RequestURI(), "headers": echoed})
	writeRaw(w, http.StatusOK, plainJSON, string(body))
}

// handleEchoMalformed answers with a broken header block whose bad line
// is the request's Authorization header: an HTTP client's parse error
// then quotes the credential.
func handleEchoMalformed(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 200 OK\r\n" + r.Header.Get("Authorization") + "\r\n\r\n")
	buf.Flush()
}

// handleEchoGzip echoes the request headers as JSON, gzip-compressed
// whatever the request's Accept-Encoding says.
func handleEchoGzip(w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	gz := gzip.NewWriter(&body)
	json.NewEncoder(gz).Encode(map[string]any{"headers": r.Header})
	gz.Close()
	w.Header().Set("Content-Type", plainJSON)
	w.Header().Set("Content-Encoding", "gzip")
	w.Write(body.Bytes())
}

// handleEchoStatus puts the Authorization header in the reason phrase and
// in a Content-Type parameter, as a broken server might.
func handleEchoStatus(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	auth := r.Header.Get("Authorization")
	buf.WriteString("HTTP/1.1 200 OK " + auth + "\r\nContent-Type: application/json; echo=\"" + auth +
		"\"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
	buf.Flush()
}

// handleEchoEscapedMalformed sends a header block that cannot be parsed and
// quotes the Authorization header in it with '/' escaped as "\/".
func handleEchoEscapedMalformed(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 200 OK\r\n" + strings.ReplaceAll(r.Header.Get("Authorization"), "/", `\/`) + "\r\n\r\n")
	buf.Flush()
}

// handleEchoSeen is a request log: for a valid token it lists the
// Authorization header of every call to this route so far; an unknown
// token gets 401. A client that retries with a refreshed token sees its
// earlier, refused token in the answer.
func (p *Provider) handleEchoSeen(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	p.mu.Lock()
	p.seen = append(p.seen, auth)
	seen := append([]string(nil), p.seen...)
	p.mu.Unlock()
	if ok, _ := p.authorized(r); !ok {
		writeJSON(w, http.StatusUnauthorized, plainJSON, map[string]any{"error": "invalid_token", "seen": seen})
		return
	}
	writeJSON(w, http.StatusOK, plainJSON, map[string]any{"seen": seen})
}
