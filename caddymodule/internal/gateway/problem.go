package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
	"github.com/widgetgate/widgetgate/caddymodule/internal/urltemplate"
)

// paramProblem is an invalid_param problem naming the param at fault.
func paramProblem(name, reason string) *problem.Problem {
	p := problem.New(http.StatusBadRequest, "invalid_param", fmt.Sprintf("param %q %s", name, reason))
	p.Param = name
	return p
}

// resolveProblem maps a failure to get a usable token to a problem.
func resolveProblem(ctx context.Context, err error, api *schema.API) *problem.Problem {
	switch {
	case errors.Is(err, refresh.ErrReconnectRequired):
		p := problem.New(http.StatusUnauthorized, "authentication_required",
			fmt.Sprintf("Authentication required: the provider revoked the passport for %q; an administrator must reconnect it", api.Auth.Key))
		p.Reason = passport.StatusReconnectRequired
		return p
	case errors.Is(err, passport.ErrNotBound), errors.Is(err, passport.ErrInactive):
		return problem.New(http.StatusUnauthorized, "authentication_required",
			fmt.Sprintf("Authentication required: no active passport is connected for %q; an administrator must connect and bind one", api.Auth.Key))
	case errors.Is(err, refresh.ErrFailed):
		p := problem.New(http.StatusBadGateway, "token_refresh_failed", "the provider's token endpoint is failing; the passport's token could not be renewed")
		p.RetryAfter = 30
		return p
	case ctx.Err() != nil:
		return problem.New(499, "client_closed", "the caller went away")
	}
	p := problem.New(http.StatusServiceUnavailable, "vault_unavailable", "the secret store cannot be reached; try again shortly")
	p.RetryAfter = 5
	return p
}

// renderProblem maps a rendering error (a *urltemplate.ParamError when the
// params are at fault) to a problem.
func renderProblem(err error) *problem.Problem {
	var pe *urltemplate.ParamError
	if !errors.As(err, &pe) {
		return problem.New(http.StatusBadRequest, "invalid_param", err.Error())
	}
	p := problem.New(http.StatusBadRequest, pe.Code, pe.Error())
	p.Param = pe.Param
	return p
}

// upstreamProblem maps a failed exchange with the provider to a problem.
func upstreamProblem(ctx context.Context, err error) *problem.Problem {
	switch {
	case errors.Is(err, upstream.ErrTimeout):
		return problem.New(http.StatusGatewayTimeout, "upstream_timeout", "the provider did not answer in time")
	case ctx.Err() != nil:
		return problem.New(499, "client_closed", "the caller went away")
	}
	var ue *upstream.Error
	if errors.As(err, &ue) && errors.Is(err, upstream.ErrEncoding) {
		return problem.New(http.StatusBadGateway, "upstream_unsupported_encoding",
			"the provider compressed its answer in an encoding widgetgate cannot check for credentials: "+ue.Cause)
	}
	if errors.As(err, &ue) && errors.Is(err, upstream.ErrEgress) {
		return problem.New(http.StatusBadGateway, "egress_denied", "the provider's address is not allowed: "+ue.Cause)
	}
	if errors.As(err, &ue) {
		return problem.New(http.StatusBadGateway, "upstream_unreachable", "the provider could not be reached: "+ue.Error())
	}
	return problem.New(http.StatusBadGateway, "upstream_unreachable", "the provider's response could not be read")
}
