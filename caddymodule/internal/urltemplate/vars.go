package urltemplate

import (
	"fmt"
	"strings"
)

// varKind is what a "{...}" placeholder stands for.
type varKind uint8

const (
	literal varKind = iota
	paramVar
	userVar
	tokenVar
)

// part is a literal run of template text or one placeholder.
type part struct {
	kind varKind
	text string // the literal text, the param name, or the token's authKey
}

// UserIDParam is the name errors use for the caller's user id.
const UserIDParam = "user.id"

// parseParts splits s into literals and placeholders. allowed says which
// placeholder kinds may appear where s sits; anything else is an error, so
// a typo like "{params.id}" fails at load instead of being sent literally.
func parseParts(s string, allowed ...varKind) ([]part, error) {
	var parts []part
	for s != "" {
		open := strings.IndexAny(s, "{}")
		if open < 0 {
			parts = append(parts, part{kind: literal, text: s})
			break
		}
		if s[open] == '}' {
			return nil, fmt.Errorf("unmatched '}' at %q", s[open:])
		}
		if open > 0 {
			parts = append(parts, part{kind: literal, text: s[:open]})
		}
		end := strings.IndexAny(s[open+1:], "{}")
		if end < 0 || s[open+1+end] != '}' {
			return nil, fmt.Errorf("unclosed '{' at %q", s[open:])
		}
		p, err := parseVar(s[open+1 : open+1+end])
		if err != nil {
			return nil, err
		}
		ok := false
		for _, k := range allowed {
			ok = ok || k == p.kind
		}
		if !ok {
			return nil, fmt.Errorf("variable {%s} is not allowed here", s[open+1:open+1+end])
		}
		parts = append(parts, p)
		s = s[open+1+end+1:]
	}
	return parts, nil
}

func parseVar(v string) (part, error) {
	switch {
	case v == UserIDParam:
		return part{kind: userVar}, nil
	case strings.HasPrefix(v, "param."):
		name := v[len("param."):]
		if !validName(name) {
			return part{}, fmt.Errorf("variable {%s}: param name must be letters, digits, '_', '-', '.' or '$'", v)
		}
		return part{kind: paramVar, text: name}, nil
	case strings.HasPrefix(v, "authorization.") && strings.HasSuffix(v, ".token"):
		key := strings.TrimSuffix(strings.TrimPrefix(v, "authorization."), ".token")
		if !validName(key) || strings.Contains(key, ".") {
			return part{}, fmt.Errorf("variable {%s}: malformed authKey", v)
		}
		return part{kind: tokenVar, text: key}, nil
	}
	return part{}, fmt.Errorf("unknown template variable {%s} (known: {param.<name>}, {user.id}, {authorization.<authKey>.token})", v)
}

// validName reports whether s may name a param or an authKey in a template.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '$') {
			return false
		}
	}
	return true
}
