package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// problem is a sidecar failure as the widget host receives it: a stable
// code to branch on, a message for humans, and fields that help (the
// param, widget or api at fault). It never carries a token or a secret:
// messages are built from names, never from values read from Vault.
type problem struct {
	Status     int    `json:"status"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Param      string `json:"param,omitempty"`
	Reason     string `json:"reason,omitempty"` // e.g. "reconnect_required"
	Widget     string `json:"widget,omitempty"`
	API        string `json:"api,omitempty"`
	RetryAfter int    `json:"-"` // seconds; sets the Retry-After header
}

func (p *problem) Error() string { return p.Code + ": " + p.Message }

func newProblem(status int, code, message string) *problem {
	return &problem{Status: status, Code: code, Message: message}
}

func writeProblem(w http.ResponseWriter, p *problem) {
	body, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.WriteHeader(p.Status)
	w.Write(append(body, '\n'))
}
