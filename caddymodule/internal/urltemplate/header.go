package urltemplate

import (
	"errors"
	"strings"
)

// Value is a parsed header value template such as
// "Bearer {authorization.googleCalAuth.token}". Only {authorization.<key>.token}
// and {user.id} may appear: headers are fixed by the schema, so params never
// reach them.
type Value struct {
	parts    []part
	authKeys []string
	usesUser bool
	static   string // the whole value when it has no placeholder
}

// ParseValue parses a header value template.
func ParseValue(raw string) (*Value, error) {
	if err := CheckValue(raw); err != nil {
		return nil, errors.New("value " + err.Error())
	}
	parts, err := parseParts(raw, tokenVar, userVar)
	if err != nil {
		return nil, err
	}
	v := &Value{parts: parts}
	for _, p := range parts {
		switch p.kind {
		case tokenVar:
			v.authKeys = append(v.authKeys, p.text)
		case userVar:
			v.usesUser = true
		}
	}
	if len(v.authKeys) == 0 && !v.usesUser {
		v.static = raw
	}
	return v, nil
}

// AuthKeys returns the authKeys whose tokens the value injects.
func (v *Value) AuthKeys() []string { return v.authKeys }

// UsesUser reports whether the value contains {user.id}.
func (v *Value) UsesUser() bool { return v.usesUser }

// Render fills the value with the passport token and the caller's user id
// (empty when the caller sent none). The token comes from Vault and is
// trusted to be well-formed; the user id is checked like a param.
func (v *Value) Render(token, user string) (string, error) {
	if v.static != "" || len(v.parts) == 0 {
		return v.static, nil
	}
	if len(v.parts) == 2 && v.parts[0].kind == literal && v.parts[1].kind == tokenVar {
		return v.parts[0].text + token, nil // "Bearer {…token}": the common case, one allocation
	}
	var b strings.Builder
	for _, p := range v.parts {
		switch p.kind {
		case literal:
			b.WriteString(p.text)
		case tokenVar:
			b.WriteString(token)
		case userVar:
			_, u, err := lookup(p, nil, user)
			if err != nil {
				return "", err
			}
			b.WriteString(u)
		}
	}
	return b.String(), nil
}
