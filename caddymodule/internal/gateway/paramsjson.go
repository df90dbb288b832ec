package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
)

// bodyParams parses {"params": {...}}. It is a small one-pass parser of
// its own rather than json.Unmarshal into a map so that it can refuse
// duplicate keys (which parsers disagree on), keep numbers as their JSON
// text and refuse lone surrogates; and rather than json.Decoder.Token,
// which allocated for every token and was a visible share of a call's CPU.
// Not strictjson: it decodes the call body by the contract's rules (its
// problem codes and limits), where strictjson only checks files at load.
func bodyParams(body []byte, lim Limits) (map[string]string, *problem.Problem) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]string{}, nil
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD; refuse it.
	if !utf8.Valid(body) {
		return nil, paramProblem("", "values must be valid UTF-8")
	}
	s := &jsonScanner{b: body}
	if !s.consume('{') {
		return nil, invalidJSON(`the body must be a JSON object: {"params": {...}}`)
	}
	params := make(map[string]string, 4)
	if !s.consume('}') {
		seenParams := false
		for {
			key, err := s.str()
			if err != nil {
				return nil, invalidJSON("the body is not valid JSON")
			}
			if string(key) != "params" {
				return nil, problem.New(http.StatusBadRequest, "override_not_allowed",
					fmt.Sprintf("%q cannot be set by a widget: the schema fixes the method, URL, headers and body; only params are accepted", key))
			}
			if seenParams {
				return nil, invalidJSON(`"params" appears twice`)
			}
			seenParams = true
			if !s.consume(':') {
				return nil, invalidJSON("the body is not valid JSON")
			}
			if p := s.paramsObject(params, lim); p != nil {
				return nil, p
			}
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return nil, invalidJSON("the body is not valid JSON")
		}
	}
	if s.skipSpace(); s.i != len(s.b) {
		return nil, invalidJSON("trailing data after the JSON body")
	}
	return params, nil
}

// paramsObject reads the value of "params": null (none) or an object of
// name → string, number or boolean.
func (s *jsonScanner) paramsObject(params map[string]string, lim Limits) *problem.Problem {
	if s.literal("null") {
		return nil
	}
	if !s.consume('{') {
		return invalidJSON(`"params" must be an object of name → value`)
	}
	if s.consume('}') {
		return nil
	}
	for {
		rawName, err := s.str()
		name := string(rawName)
		if errors.Is(err, errLoneSurrogate) {
			return paramProblem("", "a param name is not valid UTF-8")
		}
		if err != nil || !s.consume(':') {
			return invalidJSON("the body is not valid JSON")
		}
		var value string
		switch s.skipSpace(); s.peek() {
		case '"':
			var v []byte
			v, err = s.str()
			value = string(v)
		case 't', 'f':
			value, err = s.boolean()
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			value, err = s.number()
		case 'n', '{', '[':
			return paramProblem(name, "must be a string, number or boolean (not null, an object or an array)")
		default:
			err = errJSONSyntax
		}
		if errors.Is(err, errLoneSurrogate) {
			return paramProblem(name, "is not valid UTF-8")
		}
		if err != nil {
			return invalidJSON("the body is not valid JSON")
		}
		if _, dup := params[name]; dup {
			return paramProblem(name, "is given twice")
		}
		if p := checkParam(name, value, len(params), lim); p != nil {
			return p
		}
		params[name] = value
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			return nil
		}
		return invalidJSON("the body is not valid JSON")
	}
}

func invalidJSON(msg string) *problem.Problem {
	return problem.New(http.StatusBadRequest, "invalid_json", msg)
}

var (
	errJSONSyntax    = errors.New("invalid JSON")
	errLoneSurrogate = errors.New("lone UTF-16 surrogate")
)

// jsonScanner reads JSON tokens from b, which is valid UTF-8.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// consume skips space and then c, if c comes next.
func (s *jsonScanner) consume(c byte) bool {
	if s.skipSpace(); s.peek() == c {
		s.i++
		return true
	}
	return false
}

// literal skips space and then word, if it comes next.
func (s *jsonScanner) literal(word string) bool {
	if s.skipSpace(); bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

func (s *jsonScanner) boolean() (string, error) {
	switch {
	case s.literal("true"):
		return "true", nil
	case s.literal("false"):
		return "false", nil
	}
	return "", errJSONSyntax
}

// number returns a JSON number's text as it was written.
func (s *jsonScanner) number() (string, error) {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return "", errJSONSyntax
	}
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			return "", errJSONSyntax
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			return "", errJSONSyntax
		}
	}
	return string(s.b[start:s.i]), nil
}

// digits skips a run of digits and reports whether there was one.
func (s *jsonScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// str skips space and reads a string, decoding its escapes. A string
// without escapes (the usual case) is returned in place, without a copy.
func (s *jsonScanner) str() ([]byte, error) {
	if !s.consume('"') {
		return nil, errJSONSyntax
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], nil
		case c == '\\':
			return s.escapedStr(start)
		case c < 0x20:
			return nil, errJSONSyntax
		}
		s.i++
	}
	return nil, errJSONSyntax
}

// escapedStr finishes a string that has escapes; s.i is at the first one.
func (s *jsonScanner) escapedStr(start int) ([]byte, error) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return out, nil
		case c < 0x20:
			return nil, errJSONSyntax
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, errJSONSyntax
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, errJSONSyntax
			}
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by a low one is a
				// character; encoding/json would turn anything else into
				// U+FFFD, silently changing the caller's value.
				if r >= 0xDC00 || !bytes.HasPrefix(s.b[s.i:], []byte(`\u`)) {
					return nil, errLoneSurrogate
				}
				s.i += 2
				low, ok := s.hex4()
				if !ok {
					return nil, errJSONSyntax
				}
				if r = utf16.DecodeRune(r, low); r == utf8.RuneError {
					return nil, errLoneSurrogate
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, errJSONSyntax
		}
	}
	return nil, errJSONSyntax
}

// hex4 reads the four hex digits of a \u escape.
func (s *jsonScanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.i += 4
	return r, true
}
