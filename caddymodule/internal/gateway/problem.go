package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
	"github.com/widgetgate/widgetgate/caddymodule/internal/urltemplate"
)

// Problem is a sidecar failure as the widget host receives it: a stable
// code to branch on, a message for humans, and fields that help (the
// param, widget or api at fault). It never carries a token or a secret:
// messages are built from names, never from values read from Vault.
type Problem struct {
	Status     int    `json:"status"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Param      string `json:"param,omitempty"`
	Reason     string `json:"reason,omitempty"` // e.g. "reconnect_required"
	Widget     string `json:"widget,omitempty"`
	API        string `json:"api,omitempty"`
	RetryAfter int    `json:"-"` // seconds; sets the Retry-After header
	Allow      string `json:"-"` // methods allowed; sets the Allow header of a 405
}

// Error implements error.
func (p *Problem) Error() string { return p.Code + ": " + p.Message }

// NewProblem returns a problem with the given status, code and message.
func NewProblem(status int, code, message string) *Problem {
	return &Problem{Status: status, Code: code, Message: message}
}

// paramProblem is an invalid_param problem naming the param at fault.
func paramProblem(name, reason string) *Problem {
	p := NewProblem(http.StatusBadRequest, "invalid_param", fmt.Sprintf("param %q %s", name, reason))
	p.Param = name
	return p
}

// resolveProblem maps a failure to get a usable token to a problem.
func resolveProblem(ctx context.Context, err error, api *schema.API) *Problem {
	switch {
	case errors.Is(err, refresh.ErrReconnectRequired):
		p := NewProblem(http.StatusUnauthorized, "authentication_required",
			fmt.Sprintf("Authentication required: the provider revoked the passport for %q; an administrator must reconnect it", api.Auth.Key))
		p.Reason = passport.StatusReconnectRequired
		return p
	case errors.Is(err, passport.ErrNotBound), errors.Is(err, passport.ErrInactive):
		return NewProblem(http.StatusUnauthorized, "authentication_required",
			fmt.Sprintf("Authentication required: no active passport is connected for %q; an administrator must connect and bind one", api.Auth.Key))
	case errors.Is(err, refresh.ErrFailed):
		p := NewProblem(http.StatusBadGateway, "token_refresh_failed", "the provider's token endpoint is failing; the passport's token could not be renewed")
		p.RetryAfter = 30
		return p
	case ctx.Err() != nil:
		return NewProblem(499, "client_closed", "the caller went away")
	}
	p := NewProblem(http.StatusServiceUnavailable, "vault_unavailable", "the secret store cannot be reached; try again shortly")
	p.RetryAfter = 5
	return p
}

// renderProblem maps a rendering error (a *urltemplate.ParamError when the
// params are at fault) to a problem.
func renderProblem(err error) *Problem {
	var pe *urltemplate.ParamError
	if !errors.As(err, &pe) {
		return NewProblem(http.StatusBadRequest, "invalid_param", err.Error())
	}
	p := NewProblem(http.StatusBadRequest, pe.Code, pe.Error())
	p.Param = pe.Param
	return p
}

// upstreamProblem maps a failed exchange with the provider to a problem.
func upstreamProblem(ctx context.Context, err error) *Problem {
	switch {
	case errors.Is(err, upstream.ErrTimeout):
		return NewProblem(http.StatusGatewayTimeout, "upstream_timeout", "the provider did not answer in time")
	case ctx.Err() != nil:
		return NewProblem(499, "client_closed", "the caller went away")
	}
	var ue *upstream.Error
	if errors.As(err, &ue) && errors.Is(err, upstream.ErrEncoding) {
		return NewProblem(http.StatusBadGateway, "upstream_unsupported_encoding",
			"the provider compressed its answer in an encoding widgetgate cannot check for credentials: "+ue.Cause)
	}
	if errors.As(err, &ue) && errors.Is(err, upstream.ErrEgress) {
		return NewProblem(http.StatusBadGateway, "egress_denied", "the provider's address is not allowed: "+ue.Cause)
	}
	if errors.As(err, &ue) {
		return NewProblem(http.StatusBadGateway, "upstream_unreachable", "the provider could not be reached: "+ue.Error())
	}
	return NewProblem(http.StatusBadGateway, "upstream_unreachable", "the provider's response could not be read")
}

// Interface guards
var _ error = (*Problem)(nil)
