package gateway

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/urltemplate"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// callerContext reads who is calling: from a verified signed context, or
// as told by the trusted widget host in plain headers.
func (g *Gateway) callerContext(h http.Header, widgetID string) (instance, user string, p *problem.Problem) {
	if g.cfg.CallerContext == CallerSigned {
		return g.signedContext(h, widgetID)
	}
	instance = h.Get(g.cfg.InstanceHeader)
	user = h.Get(g.cfg.UserHeader)
	switch {
	case instance == "" && !g.cfg.Passports.InstanceOptional():
		return "", "", problem.New(http.StatusBadRequest, "missing_instance",
			fmt.Sprintf("the %s header is required: it says which widget instance is calling", g.cfg.InstanceHeader))
	case instance != "" && !vaultstore.ValidID(instance):
		return "", "", problem.New(http.StatusBadRequest, "invalid_instance",
			fmt.Sprintf("the %s header must be 1 to 128 letters, digits or ._:@-", g.cfg.InstanceHeader))
	}
	if err := urltemplate.CheckValue(user); err != nil {
		p := problem.New(http.StatusBadRequest, "invalid_param", fmt.Sprintf("the %s header %s", g.cfg.UserHeader, err))
		p.Param = urltemplate.UserIDParam
		return "", "", p
	}
	return instance, user, nil
}

// signedContext verifies the caller's signed context; the instance and the
// user come from its claims only.
func (g *Gateway) signedContext(h http.Header, widgetID string) (instance, user string, p *problem.Problem) {
	token := h.Get(g.cfg.ContextHeader)
	if token == "" {
		return "", "", problem.New(http.StatusUnauthorized, "invalid_caller_context",
			fmt.Sprintf("the %s header is required: a signed caller context from the widget host", g.cfg.ContextHeader))
	}
	if !g.cfg.Verifier.HasKeys() {
		p := problem.New(http.StatusServiceUnavailable, "vault_unavailable", "the keys that verify caller contexts are not loaded yet; try again shortly")
		p.RetryAfter = 5
		return "", "", p
	}
	c, err := g.cfg.Verifier.Verify(token, g.cfg.ContextAudience)
	if err != nil {
		g.log.Debug("caller context refused", slog.Any("error", err))
		return "", "", problem.New(http.StatusUnauthorized, "invalid_caller_context", "the caller context is missing, malformed, expired or not signed by a known key")
	}
	if c.Widget != widgetID {
		return "", "", problem.New(http.StatusForbidden, "widget_mismatch", "the caller context was issued for another widget")
	}
	if !vaultstore.ValidID(c.Instance) || urltemplate.CheckValue(c.User) != nil {
		return "", "", problem.New(http.StatusUnauthorized, "invalid_caller_context", "the caller context names an invalid instance or user")
	}
	return c.Instance, c.User, nil
}
