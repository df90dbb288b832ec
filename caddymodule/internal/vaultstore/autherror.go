package vaultstore

import (
	"errors"
	"fmt"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// authError is an error whose text has been checked for credentials. Its
// cause, when kept, is equally clean, so errors.As can still reach a
// *vault.ResponseError for the status code.
type authError struct {
	msg   string
	cause error
}

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error { return e.cause }

// sanitize describes a Vault client error in one line, prefixed with op,
// with every occurrence of the given credentials redacted. Vault's own
// messages do not echo credentials today, but a proxy or a future version
// might, and these errors end up in logs.
func sanitize(op string, err error, secrets ...string) error {
	redact := func(s string) string {
		for _, sec := range secrets {
			if sec != "" {
				s = strings.ReplaceAll(s, sec, "[redacted]")
			}
		}
		return s
	}
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := fmt.Sprintf("%s: HTTP %d from Vault", op, re.StatusCode)
		clean := *re
		clean.URL = redact(re.URL)
		clean.Errors = nil
		if !re.RawError { // a raw body may be an HTML page from a proxy
			for _, e := range re.Errors {
				clean.Errors = append(clean.Errors, redact(e))
			}
			if len(clean.Errors) > 0 {
				msg += ": " + strings.Join(clean.Errors, "; ")
			}
		}
		return &authError{msg: msg, cause: &clean}
	}
	text := err.Error()
	if clean := redact(text); clean != text {
		return &authError{msg: op + ": " + clean}
	}
	return &authError{msg: op + ": " + text, cause: err}
}

var _ error = (*authError)(nil)
