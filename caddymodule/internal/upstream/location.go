package upstream

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	whatwg "github.com/nlnwa/whatwg-url/url"
)

// A Location a widget may see must stay on the provider's origin for
// whoever follows it, and the one who follows it is a browser: the widget's
// own code, or fetch following a raw-mode 3xx. Browsers parse URLs by the
// WHATWG URL Standard, not RFC 3986, and the two disagree on exactly the
// values a hostile provider would send: "/\evil.example" and
// "\\evil.example" are paths to Go's net/url and scheme-relative URLs to a
// browser (which reads '\' as '/' in http and https), tabs and newlines
// are deleted anywhere in the value, leading and trailing controls and
// spaces are stripped, and "https:\\evil.example" or "///evil.example"
// name the host evil.example. So the value is parsed with a WHATWG parser
// (the one Caddy itself already depends on, which passes the
// web-platform-tests URL suite) rather than with net/url.

// sameOrigin reports whether every Location value is provably on the origin
// (scheme, host, port) of the request that got the response.
func sameOrigin(req *http.Request, values []string) bool {
	if req == nil || req.URL == nil {
		return false
	}
	base, err := whatwg.Parse(req.URL.String())
	if err != nil || base.Hostname() == "" {
		return false
	}
	// "https:next" is a relative path against an https base but the
	// absolute URL https://next/ against an http one; "http:/x" likewise.
	// The widget may resolve the value against another base than ours (its
	// own page, served by the sidecar, perhaps on the other scheme), so
	// the value is resolved against a second base on the other special
	// scheme too: there it must either stay relative (land on that base's
	// origin) or name the provider's origin.
	other, err := whatwg.Parse(otherScheme(base.Scheme()) + "://widgetgate.invalid/")
	if err != nil {
		return false
	}
	for _, v := range values {
		if ambiguousLocation(v) {
			return false
		}
		loc, err := base.Parse(v)
		if err != nil || !sameURLOrigin(loc, base) {
			return false
		}
		alt, err := other.Parse(v)
		if err != nil || !sameURLOrigin(alt, other) && !sameURLOrigin(alt, base) {
			return false
		}
		// And for an RFC 3986 client too: "https:/%61pi.example.com" is
		// the host api.example.com to a browser and a path to net/url.
		// A value the two kinds of parser read differently is dropped.
		if !rfc3986SameOrigin(req.URL, v) {
			return false
		}
	}
	return true
}

// rfc3986SameOrigin reports whether v, resolved against base by Go's
// net/url (RFC 3986), names base's scheme, host and port, with no
// userinfo (an empty "@" is none). IP literals compare as addresses, so
// [0:0::1] is [::1].
func rfc3986SameOrigin(base *url.URL, v string) bool {
	loc, err := base.Parse(v)
	if err != nil || loc.User != nil && loc.User.String() != "" {
		return false
	}
	return strings.EqualFold(loc.Scheme, base.Scheme) && sameHost(loc.Hostname(), base.Hostname()) &&
		portOr(loc) == portOr(base)
}

func sameHost(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	ia, errA := netip.ParseAddr(a)
	ib, errB := netip.ParseAddr(b)
	return errA == nil && errB == nil && ia == ib
}

// portOr returns u's port, or its scheme's default.
func portOr(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// ambiguousLocation reports values that some client would read otherwise
// than a browser does, which no legitimate redirect needs: controls (a
// browser deletes or strips them, other parsers keep or reject them) and
// '\' (a browser's '/', everyone else's literal byte: in
// "https://api.example\@evil.example/" a browser sees the host api.example
// and an RFC 3986 parser the host evil.example).
func ambiguousLocation(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return true
		}
	}
	return false
}

// sameURLOrigin compares two parsed URLs' origins. The parser has already
// lower-cased scheme and host, mapped the host through IDNA and IP-address
// parsing, and dropped a port equal to the scheme's default. A URL with
// userinfo never matches: no API redirects with credentials in the URL, and
// not every client splits userinfo from host as a browser does.
func sameURLOrigin(a, b *whatwg.Url) bool {
	return a.Scheme() == b.Scheme() && a.Hostname() != "" && a.Host() == b.Host() &&
		a.Username() == "" && a.Password() == ""
}

func otherScheme(scheme string) string {
	if scheme == "https" {
		return "http"
	}
	return "https"
}
