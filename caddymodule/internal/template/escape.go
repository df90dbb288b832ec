package template

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// Two byte sets decide what a rendered value may keep unescaped. Both are
// stricter than RFC 3986 allows on purpose: every byte that a server, a proxy
// or a framework could read as structure ('/', '?', '#', '&', '=', '+', ';',
// '%', space, backslash) is percent-encoded, so a value always stays one path
// segment or one query value. The few sub-delims kept raw are the ones real
// APIs expect to see unescaped (OData's "$filter", ISO 8601 times "10:00:00",
// "startswith(name,'a')").
var (
	segmentSafe = byteSet("-._~" + "!$'()*,:@")
	querySafe   = byteSet("-._~" + "!$'()*,:@/?")
)

func byteSet(extra string) *[256]bool {
	var s [256]bool
	for c := 'a'; c <= 'z'; c++ {
		s[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		s[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		s[c] = true
	}
	for i := 0; i < len(extra); i++ {
		s[extra[i]] = true
	}
	return &s
}

const upperHex = "0123456789ABCDEF"

// appendEscaped appends v to b, percent-encoding every byte not in safe.
func appendEscaped(b *strings.Builder, v string, safe *[256]bool) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if safe[c] {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
}

// CheckValue reports why v cannot be sent anywhere in a request: invalid
// UTF-8 or a control character (C0, DEL, C1). CR, LF and NUL are the usual
// smuggling tools; the rest have no business in a parameter either.
func CheckValue(v string) error {
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return errControl
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			return errUTF8
		}
		if r >= 0x80 && r <= 0x9f {
			return errControl
		}
		i += size
	}
	return nil
}

// checkSegmentValue reports why v cannot be a single path segment: empty, a
// dot segment, or containing a separator, in any of the forms a server might
// normalise it to (percent-decoded once or more, fullwidth or look-alike
// dots and slashes).
func checkSegmentValue(v string) error {
	if v == "" {
		return errEmptySegment
	}
	// Decode repeatedly: "%252e%252e" is ".." to a server that decodes twice.
	for range 4 {
		if err := checkSegmentForm(v); err != nil {
			return err
		}
		d, err := url.PathUnescape(v)
		if err != nil || d == v {
			return nil
		}
		v = d
	}
	return checkSegmentForm(v)
}

func checkSegmentForm(v string) error {
	if strings.ContainsAny(v, "/\\\uff0f\uff3c\u2215\u29f5") {
		return errSeparator
	}
	if isDotSegment(v) {
		return errDotSegment
	}
	return nil
}

// isDotSegment reports whether v is "." or ".." once look-alike dots that
// some servers fold to '.' (Unicode NFKC) are counted as dots.
func isDotSegment(v string) bool {
	n := 0
	for _, r := range v {
		switch r {
		case '.', '\uff0e', '\u2024', '\ufe52':
			n++
		default:
			return false
		}
	}
	return n == 1 || n == 2
}
