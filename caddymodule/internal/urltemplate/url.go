// Package urltemplate parses the URL and header templates of a widget's
// authenticatedApis once, at load, and renders them per call with
// caller-supplied params escaped for the position they land in.
//
// The rendering rules are the security boundary between a widget and the
// outbound request: a param can fill a path segment or a query value, never
// add a segment, a query key, or touch the scheme, host or port.
package urltemplate

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// URL is a parsed URL template such as
// "https://api.example.com/users/{param.userId}/posts?page={param.page}".
type URL struct {
	raw       string
	origin    string // "scheme://host[:port]" exactly as written
	scheme    string
	host      string // host[:port]
	segments  [][]part
	query     []queryPair
	queryKeys []string // the query keys in shadowForm, to refuse look-alikes
	params    []string // params the template uses, sorted, deduplicated
	usesUser  bool
	sizeGuess int
}

type queryPair struct {
	key   string // literal, as written in the template
	value []part
	noEq  bool // "?flag" without '=': rendered as written
}

// ParseOptions says what a URL template may use.
type ParseOptions struct {
	// AllowHTTP permits "http" templates; otherwise only "https" is accepted.
	AllowHTTP bool
}

// ParseURL parses a URL template. Placeholders may only appear in path
// segments and query values; never in the scheme, host, port or a query key.
func ParseURL(raw string, opt ParseOptions) (*URL, error) {
	t := &URL{raw: raw, sizeGuess: len(raw) + 64}
	if err := CheckValue(raw); err != nil || strings.ContainsAny(raw, " \t") {
		return nil, errors.New("url contains whitespace, control characters or invalid UTF-8")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("url must be absolute (https://host/path)")
	}
	switch scheme {
	case "https":
	case "http":
		if !opt.AllowHTTP {
			return nil, errors.New("url must use https (plain http is allowed only when the operator enables allow_http_upstreams)")
		}
	default:
		return nil, fmt.Errorf("url scheme %q is not allowed (https only)", scheme)
	}
	if strings.Contains(rest, "#") {
		return nil, errors.New("url must not contain a fragment")
	}
	authEnd := strings.IndexAny(rest, "/?")
	if authEnd < 0 {
		authEnd = len(rest)
	}
	host := rest[:authEnd]
	if strings.ContainsAny(host, "{}") {
		return nil, errors.New("url host and port cannot contain template variables")
	}
	if host == "" || strings.Contains(host, "@") {
		return nil, errors.New("url must name a host and carry no user info")
	}
	t.scheme, t.host, t.origin = scheme, host, scheme+"://"+host
	rest = rest[authEnd:]

	path, rawQuery, hasQuery := strings.Cut(rest, "?")
	if path != "" {
		for _, seg := range strings.Split(path[1:], "/") {
			parts, err := parseParts(seg, paramVar, userVar)
			if err != nil {
				return nil, fmt.Errorf("url path: %w", err)
			}
			if len(parts) == 1 && parts[0].kind == literal && (parts[0].text == "." || parts[0].text == "..") {
				return nil, errors.New("url path must not contain dot segments")
			}
			t.segments = append(t.segments, parts)
		}
	}
	if hasQuery && rawQuery != "" {
		for _, pair := range strings.Split(rawQuery, "&") {
			key, value, hasEq := strings.Cut(pair, "=")
			if key == "" || strings.ContainsAny(key, "{}") {
				return nil, fmt.Errorf("url query key in %q must be a non-empty literal", pair)
			}
			parts, err := parseParts(value, paramVar, userVar)
			if err != nil {
				return nil, fmt.Errorf("url query %q: %w", key, err)
			}
			t.query = append(t.query, queryPair{key: key, value: parts, noEq: !hasEq})
			t.queryKeys = append(t.queryKeys, shadowForm(key))
		}
	}
	for _, p := range t.allParts() {
		switch p.kind {
		case paramVar:
			if !slices.Contains(t.params, p.text) {
				t.params = append(t.params, p.text)
			}
		case userVar:
			t.usesUser = true
		}
	}
	slices.Sort(t.params)
	// The template with every placeholder filled must itself be a valid URL.
	if _, err := url.Parse(t.origin + "/x"); err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	return t, nil
}

func (t *URL) allParts() []part {
	var all []part
	for _, s := range t.segments {
		all = append(all, s...)
	}
	for _, q := range t.query {
		all = append(all, q.value...)
	}
	return all
}

// String returns the template as written.
func (t *URL) String() string { return t.raw }

// Hostname returns the template's host without port or IPv6 brackets.
func (t *URL) Hostname() string {
	u := url.URL{Host: t.host}
	return u.Hostname()
}

// Origin returns "scheme://host[:port]" of the template.
func (t *URL) Origin() string { return t.origin }

// Params returns the names of the params the template uses, sorted.
func (t *URL) Params() []string { return slices.Clone(t.params) }

// UsesUser reports whether the template contains {user.id}.
func (t *URL) UsesUser() bool { return t.usesUser }

// Render fills the template. Params the template does not use are appended
// as query parameters sorted by name, after the template's own pairs. An
// empty user means the caller sent no user id. Errors are *ParamError.
func (t *URL) Render(params map[string]string, user string) (string, error) {
	s, _, err := t.render(params, user)
	return s, err
}

// RenderURL is Render returning the parsed URL, ready for an http.Request.
func (t *URL) RenderURL(params map[string]string, user string) (*url.URL, error) {
	_, u, err := t.render(params, user)
	return u, err
}

func (t *URL) render(params map[string]string, user string) (string, *url.URL, error) {
	for name, v := range params {
		if err := CheckValue(v); err != nil {
			return "", nil, invalid(name, err)
		}
	}
	var b strings.Builder
	b.Grow(t.sizeGuess)
	b.WriteString(t.origin)
	for _, seg := range t.segments {
		b.WriteByte('/')
		for _, p := range seg {
			if p.kind == literal {
				b.WriteString(p.text)
				continue
			}
			name, v, err := lookup(p, params, user)
			if err != nil {
				return "", nil, err
			}
			if err := checkSegmentValue(v); err != nil {
				return "", nil, invalid(name, err)
			}
			appendEscaped(&b, v, segmentSafe)
		}
		if len(seg) > 1 {
			if err := checkJoinedSegment(seg, params, user); err != nil {
				return "", nil, err
			}
		}
	}
	sep := byte('?')
	for _, q := range t.query {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(q.key)
		if !q.noEq {
			b.WriteByte('=')
		}
		for _, p := range q.value {
			if p.kind == literal {
				b.WriteString(p.text)
				continue
			}
			_, v, err := lookup(p, params, user)
			if err != nil {
				return "", nil, err
			}
			appendEscaped(&b, v, querySafe)
		}
	}
	if extra := t.extraParams(params); len(extra) > 0 {
		for _, name := range extra {
			if t.fixedKey(name) {
				return "", nil, &ParamError{Code: CodeInvalidParam, Param: name, Reason: "would override a query parameter fixed by the schema"}
			}
			b.WriteByte(sep)
			sep = '&'
			appendEscaped(&b, name, querySafe)
			b.WriteByte('=')
			appendEscaped(&b, params[name], querySafe)
		}
	}
	out := b.String()
	u, err := t.verify(out, len(params))
	if err != nil {
		return "", nil, err
	}
	return out, u, nil
}

// checkJoinedSegment checks a segment made of several parts, each of them
// already checked alone. Together they may still spell what none does
// alone: "%2" and "e." make "%2e.", which is ".." to a server that decodes
// twice. The segment as a server sees it once decoded (the literals as
// written, the values raw) is checked like a single value; a problem the
// literals have on their own, with every value a plain "x" (a template may
// write "group%2Fproject"), is the schema's choice and not refused.
func checkJoinedSegment(seg []part, params map[string]string, user string) error {
	var joined, alone strings.Builder
	for _, p := range seg {
		if p.kind == literal {
			joined.WriteString(p.text)
			alone.WriteString(p.text)
			continue
		}
		_, v, _ := lookup(p, params, user) // found: the parts were rendered
		joined.WriteString(v)
		alone.WriteByte('x')
	}
	err := checkSegmentValue(joined.String())
	if err == nil || checkSegmentValue(alone.String()) != nil {
		return nil
	}
	return &ParamError{Code: CodeInvalidParam, Param: firstParam(seg), Reason: "makes, with the rest of its path segment, a segment that " + err.Error()}
}

func firstParam(seg []part) string {
	for _, p := range seg {
		if p.kind == paramVar {
			return p.text
		}
	}
	return UserIDParam
}

func lookup(p part, params map[string]string, user string) (name, value string, err error) {
	if p.kind == userVar {
		if user == "" {
			return UserIDParam, "", &ParamError{Code: CodeMissingParam, Param: UserIDParam}
		}
		if err := CheckValue(user); err != nil {
			return UserIDParam, "", invalid(UserIDParam, err)
		}
		return UserIDParam, user, nil
	}
	v, ok := params[p.text]
	if !ok {
		return p.text, "", &ParamError{Code: CodeMissingParam, Param: p.text}
	}
	return p.text, v, nil
}

// extraParams returns, sorted, the params the template does not use.
func (t *URL) extraParams(params map[string]string) []string {
	if len(params) == 0 {
		return nil
	}
	var extra []string
	for name := range params {
		if _, used := slices.BinarySearch(t.params, name); !used {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	return extra
}

// fixedKey reports whether an extra param named name would shadow one of
// the template's own query keys. Servers do not compare keys byte for byte:
// many decode them (some twice), ASP.NET, OData and others match them
// case-insensitively, PHP and Rails read "k[]" as "k" and PHP reads spaces
// and dots as "_". On such a provider "MAXRESULTS" or "maxResults[]" next
// to the schema's "maxResults=3" replaces or joins it, so the comparison is
// made on the form those servers see, and case-insensitively.
func (t *URL) fixedKey(name string) bool {
	form := shadowForm(name)
	for _, k := range t.queryKeys {
		if strings.EqualFold(k, form) {
			return true
		}
	}
	return false
}

// shadowForm is key as a lenient server reads it: percent-decoded (with
// "+" as a space, as form decoders do) until stable, NFKC-normalised (so
// "［］" is "[]"), without trailing "[]", and with spaces and dots as "_".
// Case is left to the caller's strings.EqualFold, which also folds the
// Kelvin sign to "k" and the long s to "s".
func shadowForm(key string) string {
	for range 4 {
		d, err := url.QueryUnescape(key)
		if err != nil || d == key {
			break
		}
		key = d
	}
	key = nfkc(key)
	for strings.HasSuffix(key, "[]") {
		key = strings.TrimSuffix(key, "[]")
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '.' {
			return '_'
		}
		return r
	}, key)
}

// verify re-parses the rendered URL and checks the invariants the escaping
// is meant to guarantee. It is a second, independent line of defence: if a
// bug in rendering ever lets a value change the request's shape, the call
// fails with a 400 instead of reaching the provider.
func (t *URL) verify(rendered string, nParams int) (*url.URL, error) {
	broken := func(what string) (*url.URL, error) {
		return nil, &ParamError{Code: CodeInvalidParam, Reason: "would change the request's " + what}
	}
	u, err := url.Parse(rendered)
	if err != nil {
		return broken("URL syntax")
	}
	if u.Scheme != t.scheme || u.Host != t.host || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return broken("origin")
	}
	if strings.Count(u.EscapedPath(), "/") != len(t.segments) {
		return broken("path segment count")
	}
	keys := strings.Count(u.RawQuery, "&")
	if u.RawQuery != "" {
		keys++
	}
	// Every param the template uses is present (or Render failed earlier),
	// so each remaining param is exactly one extra query pair.
	if want := len(t.query) + nParams - len(t.params); keys != want {
		return broken("query keys")
	}
	return u, nil
}
