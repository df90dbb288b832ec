package urltemplate

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
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
// dot segment, or containing a separator, in any of the forms a server
// might normalise it to before it routes or opens a file: percent-decoded
// once or more, Unicode NFKC (which folds the fullwidth, small and other
// compatibility forms "．" "‥" "︰" "／" "﹨" "℀" to ASCII dots and slashes),
// or both, in either order.
func checkSegmentValue(v string) error {
	if v == "" {
		return errEmptySegment
	}
	// Four decodings: "%252e%252e" is ".." to a server that decodes twice,
	// and no server is known to decode more than twice.
	return checkSegmentForms(v, 4)
}

func checkSegmentForms(v string, decodings int) error {
	n := nfkc(v)
	if err := checkSegmentForm(v, n); err != nil {
		return err
	}
	if decodings == 0 {
		return nil
	}
	// Decode both the value and its NFKC form: a server that normalises
	// first turns fullwidth "％２Ｆ" into "%2F", and then into "/".
	for i, w := range [2]string{v, n} {
		if i == 1 && n == v {
			break
		}
		if d := lenientUnescape(w); d != w {
			if err := checkSegmentForms(d, decodings-1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSegmentForm checks one form of a value, v, and its NFKC form, n.
func checkSegmentForm(v, n string) error {
	// NFKC maps the compatibility forms of '/' and '\' to ASCII. These two
	// look-alikes have none, but some servers still fold them to '/' and
	// '\' (Windows' "best fit" conversion to a code page does so for '∕');
	// they were refused before NFKC was, and still are.
	const separators = "/\\\u2215\u29f5"
	if strings.ContainsAny(v, separators) || strings.ContainsAny(n, separators) {
		return errSeparator
	}
	if v == "." || v == ".." || n == "." || n == ".." {
		return errDotSegment
	}
	return nil
}

// nfkc is norm.NFKC.String with a fast path for ASCII, which NFKC leaves
// as it is, and which nearly every value is.
func nfkc(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return norm.NFKC.String(s)
		}
	}
	return s
}

// lenientUnescape decodes every well-formed %XX in s and keeps the rest as
// it is, as lenient servers (nginx, PHP's rawurldecode) do: "%zz%2F" is
// "%zz/" to them, where url.PathUnescape refuses the whole string.
func lenientUnescape(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
