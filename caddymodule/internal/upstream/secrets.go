package upstream

import (
	"bytes"
	"io"
	"strconv"
	"strings"
)

// Secrets are the credentials one call sent to its provider: the access
// token, and after a forced refresh the new one too. Everything that
// leaves widgetgate from the provider's answer — status text, headers,
// content type, body, stream, the text of a transport error — passes
// through them, so an API that echoes the request (debug endpoints, error
// pages quoting Authorization) never shows a credential to the widget or
// the log. Each token is matched as sent and in its JSON-escaped form
// (see escapedForm).
//
// A nil or zero Secrets masks nothing. Secrets is not safe for
// concurrent use: a call owns its own.
type Secrets struct {
	forms []tokenSearch
	// masked is set once anything was masked or dropped: an answer that
	// echoed a credential is never cached or shared beyond its call.
	masked bool
}

// Masked reports whether anything of the answer was masked or dropped
// because it carried a secret.
func (s *Secrets) Masked() bool { return s != nil && s.masked }

func (s *Secrets) mark() {
	if s != nil {
		s.masked = true
	}
}

// list returns the forms to mask (none for nil).
func (s *Secrets) list() []tokenSearch {
	if s == nil {
		return nil
	}
	return s.forms
}

// NewSecrets returns the secrets of a call that sends tokens.
func NewSecrets(tokens ...string) *Secrets {
	s := &Secrets{}
	for _, t := range tokens {
		s.Add(t)
	}
	return s
}

// Add records another token the call sent. Empty and known tokens are
// ignored.
func (s *Secrets) Add(token string) {
	if token == "" {
		return
	}
	esc := escapedForm(token)
	// Error texts quote what the provider sent with Go's %q, which escapes
	// the backslash of "\/" again: mask those forms too.
	for _, form := range [...]string{token, esc, quotedForm(token), quotedForm(esc)} {
		if form != "" && !s.has(form) {
			s.forms = append(s.forms, newTokenSearch(form))
		}
	}
}

// quotedForm returns v as it reads inside a Go-quoted string.
func quotedForm(v string) string {
	q := strconv.Quote(v)
	return q[1 : len(q)-1]
}

func (s *Secrets) has(form string) bool {
	for _, f := range s.forms {
		if string(f.token) == form {
			return true
		}
	}
	return false
}

// In reports whether v carries any of the secrets.
func (s *Secrets) In(v string) bool {
	for _, f := range s.list() {
		if strings.Contains(v, string(f.token)) {
			return true
		}
	}
	return false
}

// MaskString returns v with every secret replaced by Redacted.
func (s *Secrets) MaskString(v string) string {
	for _, f := range s.list() {
		if strings.Contains(v, string(f.token)) {
			v = strings.ReplaceAll(v, string(f.token), Redacted)
			s.mark()
		}
	}
	return v
}

// maskBytes returns b with every secret replaced by Redacted; b itself
// is returned when it carries none (the usual case: no copy).
func (s *Secrets) maskBytes(b []byte) []byte {
	for _, f := range s.list() {
		if f.index(b) >= 0 {
			b = bytes.ReplaceAll(b, f.token, []byte(Redacted))
			s.mark()
		}
	}
	return b
}

// writer returns w behind a chain of redactors, one per secret form:
// stream chunks are masked in place with '*', keeping their length.
func (s *Secrets) writer(w io.Writer) *redactor {
	var r *redactor
	forms := s.list()
	for i := len(forms) - 1; i >= 0; i-- {
		next := r
		r = &redactor{w: w, token: forms[i].token, search: forms[i], next: next}
		w = r
	}
	if r == nil {
		r = &redactor{w: w}
	}
	return r
}
