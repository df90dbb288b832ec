package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/widgetgate/widgetgate/caddymodule/internal/gateway"
)

// problem is a sidecar failure as the widget host receives it; the
// gateway defines it, and the admin handler answers with it too.
type problem = gateway.Problem

// newProblem returns a problem with the given status, code and message.
func newProblem(status int, code, message string) *problem {
	return gateway.NewProblem(status, code, message)
}

// writeProblem writes p as application/problem+json.
func writeProblem(w http.ResponseWriter, p *problem) {
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
