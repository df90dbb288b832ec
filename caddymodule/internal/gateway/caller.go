package gateway

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/urltemplate"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/callerctx"
)

// Caller reads who is calling widgetID: from a verified signed context,
// or as told by the trusted widget host in plain headers (which say no
// more than the instance and the user).
func (g *Gateway) Caller(h http.Header, widgetID string) (callerctx.Context, *problem.Problem) {
	if g.cfg.CallerContext == CallerSigned {
		return g.signedContext(h, widgetID)
	}
	c := callerctx.Context{Instance: h.Get(g.cfg.InstanceHeader), Widget: widgetID, User: h.Get(g.cfg.UserHeader)}
	switch {
	case c.Instance == "" && !g.cfg.Passports.InstanceOptional():
		return callerctx.Context{}, problem.New(http.StatusBadRequest, "missing_instance",
			fmt.Sprintf("the %s header is required: it says which widget instance is calling", g.cfg.InstanceHeader))
	case c.Instance != "" && !vaultstore.ValidID(c.Instance):
		return callerctx.Context{}, problem.New(http.StatusBadRequest, "invalid_instance",
			fmt.Sprintf("the %s header must be 1 to 128 letters, digits or ._:@-", g.cfg.InstanceHeader))
	}
	if err := urltemplate.CheckValue(c.User); err != nil {
		p := problem.New(http.StatusBadRequest, "invalid_param", fmt.Sprintf("the %s header %s", g.cfg.UserHeader, err))
		p.Param = urltemplate.UserIDParam
		return callerctx.Context{}, p
	}
	return c, nil
}

// signedContext verifies the caller's signed context; who calls comes
// from its claims only.
func (g *Gateway) signedContext(h http.Header, widgetID string) (callerctx.Context, *problem.Problem) {
	token := h.Get(g.cfg.ContextHeader)
	if token == "" {
		return callerctx.Context{}, problem.New(http.StatusUnauthorized, "invalid_caller_context",
			fmt.Sprintf("the %s header is required: a signed caller context from the widget host", g.cfg.ContextHeader))
	}
	if !g.cfg.Verifier.HasKeys() {
		p := problem.New(http.StatusServiceUnavailable, "vault_unavailable", "the keys that verify caller contexts are not loaded yet; try again shortly")
		p.RetryAfter = 5
		return callerctx.Context{}, p
	}
	c, err := g.cfg.Verifier.Verify(token, g.cfg.ContextAudience)
	if err != nil {
		g.log.Debug("caller context refused", slog.Any("error", err))
		return callerctx.Context{}, problem.New(http.StatusUnauthorized, "invalid_caller_context", "the caller context is missing, malformed, expired or not signed by a known key")
	}
	if c.Widget != widgetID {
		return callerctx.Context{}, problem.New(http.StatusForbidden, "widget_mismatch", "the caller context was issued for another widget")
	}
	if !vaultstore.ValidID(c.Instance) || urltemplate.CheckValue(c.User) != nil {
		return callerctx.Context{}, problem.New(http.StatusUnauthorized, "invalid_caller_context", "the caller context names an invalid instance or user")
	}
	return c, nil
}
