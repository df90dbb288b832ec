// Package problem is the JSON error body every widgetgate handler answers
// with (application/problem+json): a stable code to branch on, a message
// for humans, and the fields that help.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Problem is a sidecar failure as the client receives it: a stable code
// to branch on, a message for humans, and fields that help (the param,
// widget or api at fault). It never carries a token or a secret: messages
// are built from names, never from values read from Vault.
type Problem struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
	Reason  string `json:"reason,omitempty"` // e.g. "reconnect_required"
	Widget  string `json:"widget,omitempty"`
	API     string `json:"api,omitempty"`
	// Errors lists every problem of a refused input (a widget package), so
	// that all can be fixed at once.
	Errors     []FieldProblem `json:"errors,omitempty"`
	RetryAfter int            `json:"-"` // seconds; sets the Retry-After header
	Allow      string         `json:"-"` // methods allowed; sets the Allow header of a 405
}

// FieldProblem is one problem of a refused input: the file it is in, the
// field of that file (empty for the file as a whole) and what is wrong.
type FieldProblem struct {
	File    string `json:"file,omitempty"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error implements error, so a problem can travel as one.
func (p *Problem) Error() string { return p.Code + ": " + p.Message }

// New returns a problem with the given status, code and message.
func New(status int, code, message string) *Problem {
	return &Problem{Status: status, Code: code, Message: message}
}

// Write writes p as application/problem+json, with its Retry-After and
// Allow headers.
func Write(w http.ResponseWriter, p *Problem) {
	body, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	if p.Allow != "" {
		h.Set("Allow", p.Allow)
	}
	w.WriteHeader(p.Status)
	w.Write(append(body, '\n'))
}
