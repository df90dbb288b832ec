package upstream

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopByHop are the RFC 9110 connection-specific headers, plus the cookie
// and legacy headers no widget should ever see.
var dropResponse = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Set-Cookie": true, "Set-Cookie2": true, "Alt-Svc": true,
}

// ResponseHeaders calls fn with each response header a widget may see.
// Dropped: hop-by-hop headers, those named in Connection, cookies, any
// header whose value carries the injected token (some APIs echo the
// request), and Location when it leads to another origin (a widget that
// followed it would be steered off the API the schema allows).
func ResponseHeaders(resp *http.Response, secrets *Secrets, fn func(name string, values []string)) {
	var connNamed []string
	for _, v := range resp.Header["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				connNamed = append(connNamed, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	for name, values := range resp.Header {
		if dropResponse[name] || contains(connNamed, name) || carries(values, secrets) {
			continue
		}
		if name == "Location" && !sameOrigin(resp.Request, values) {
			continue
		}
		fn(name, values)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func carries(values []string, secrets *Secrets) bool {
	for _, v := range values {
		if secrets.In(v) {
			secrets.mark() // the header is dropped
			return true
		}
	}
	return false
}
