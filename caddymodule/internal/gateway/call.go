package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/urltemplate"
)

// Request is one widget call as it reached the sidecar.
type Request struct {
	Method   string
	Path     string // escaped; its tail names the widget and the API (see ParseCallPath)
	RawQuery string // a raw-mode GET's params
	Header   http.Header
	Body     io.ReadCloser // a POST's {"params": …}; nil reads as empty
}

// HTTPRequest is the Request that r carries.
func HTTPRequest(r *http.Request) *Request {
	return &Request{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header, Body: r.Body}
}

// Prepared is a call checked, rendered and resolved: everything the
// exchange needs and nothing of the caller's request. It is the input of
// the stages after resolution.
type Prepared struct {
	API      *schema.API // nil until the lookup succeeds
	Raw      bool        // …/raw: stream the answer instead of the envelope
	URL      *url.URL    // the API's URL rendered with the caller's params
	User     string      // the caller's user id, "" when none
	Passport *passport.Passport
}

// tag marks a problem with the API it concerns, once that is known.
func (c *Prepared) tag(p *problem.Problem) *problem.Problem {
	if p != nil && c.API != nil {
		p.Widget, p.API = c.API.WidgetID, c.API.Name
	}
	return p
}

// Call runs one widget call through its stages, in the contract's error
// order: bad call (400/413) → unknown widget/api (404) → no passport (401)
// → provider mismatch (403) → Vault (503) → upstream (502/504). With a nil
// problem the Result is ready to Serve; either way its API and Raw say
// what was called, for metrics.
func (g *Gateway) Call(ctx context.Context, req *Request) (Result, *problem.Problem) {
	c, p := g.prepare(ctx, req)
	if p != nil {
		return Result{API: c.API, Raw: c.Raw, Source: fanout.Bypass}, c.tag(p)
	}

	// Stage: fan-out (share.go). c is checked, rendered and resolved and
	// nothing is sent yet: identical calls share one send, the cache may
	// answer, and the passport's cool-down and budget are kept.
	res, p := g.stage(ctx, c)
	return res, c.tag(p)
}

// prepare runs every stage before the upstream call: parse, caller
// context, lookup, render, resolve. The returned Prepared is never nil and
// holds what is known so far even with a problem.
func (g *Gateway) prepare(ctx context.Context, req *Request) (*Prepared, *problem.Problem) {
	c := &Prepared{}
	// Stage: parse the call (route, method, params).
	widgetID, apiName, params, p := g.parseCall(req, c)
	if p != nil {
		return c, p
	}
	// Stage: caller context (who calls: instance and user).
	caller, p := g.Caller(req.Header, widgetID)
	if p != nil {
		return c, p
	}
	instance, user := caller.Instance, caller.User
	// Stage: lookup.
	if c.API, p = g.lookup(widgetID, apiName); p != nil {
		return c, p
	}
	c.User = user
	// Stage: render.
	if c.URL, p = render(c.API, params, user); p != nil {
		return c, p
	}
	// Stage: resolve the passport.
	c.Passport, p = g.resolve(ctx, instance, c.API)
	return c, p
}

// parseCall matches the route and the method and reads the params. Only
// structure is checked here; what the API needs is the render stage's.
func (g *Gateway) parseCall(req *Request, c *Prepared) (widgetID, apiName string, params map[string]string, p *problem.Problem) {
	widgetID, apiName, raw, ok := ParseCallPath(req.Path)
	c.Raw = raw
	if !ok {
		return "", "", nil, problem.New(http.StatusNotFound, "not_found", "no such route: calls are POST …/widgets/{widgetId}/apis/{apiName}[/raw]")
	}
	if allowed := req.Method == http.MethodPost || raw && req.Method == http.MethodGet; !allowed {
		p := problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "use POST (or GET for …/raw)")
		p.Allow = "POST"
		if raw {
			p.Allow = "GET, POST"
		}
		return "", "", nil, p
	}
	params, p = readParams(req, g.cfg.Limits)
	return widgetID, apiName, params, p
}

// lookup finds the API in the catalogue.
func (g *Gateway) lookup(widgetID, apiName string) (*schema.API, *problem.Problem) {
	api, err := g.cfg.Catalog.Lookup(widgetID, apiName)
	switch {
	case errors.Is(err, schema.ErrUnknownWidget):
		p := problem.New(http.StatusNotFound, "unknown_widget", fmt.Sprintf("no widget %q is loaded", widgetID))
		p.Widget = widgetID
		return nil, p
	case errors.Is(err, schema.ErrUnknownAPI):
		p := problem.New(http.StatusNotFound, "unknown_api", fmt.Sprintf("widget %q has no authenticatedApis entry named %q", widgetID, apiName))
		p.Widget, p.API = widgetID, apiName
		return nil, p
	}
	return api, nil
}

// render checks the params against the API's patterns and renders its URL.
func render(api *schema.API, params map[string]string, user string) (*url.URL, *problem.Problem) {
	if err := api.CheckPatterns(params); err != nil {
		return nil, renderProblem(err)
	}
	u, err := api.URL.RenderURL(params, user)
	if err != nil {
		return nil, renderProblem(err)
	}
	if api.UsesUser && user == "" {
		return nil, renderProblem(&urltemplate.ParamError{Code: urltemplate.CodeMissingParam, Param: urltemplate.UserIDParam})
	}
	return u, nil
}

// resolve finds the active passport for the API's authKey and checks it
// is of the provider the schema asks for.
func (g *Gateway) resolve(ctx context.Context, instance string, api *schema.API) (*passport.Passport, *problem.Problem) {
	pp, err := g.cfg.Passports.Resolve(ctx, instance, api.Auth.Key)
	if err != nil {
		g.log.Debug("no usable passport", slog.String("instance", instance), slog.String("auth_key", api.Auth.Key), slog.Any("error", err))
		return nil, resolveProblem(ctx, err, api)
	}
	if want := api.Auth.Provider; want != "" && pp.Provider != want {
		return nil, problem.New(http.StatusForbidden, "passport_provider_mismatch",
			fmt.Sprintf("the passport bound to %q is a %q passport; this API needs %q", api.Auth.Key, pp.Provider, want))
	}
	return pp, nil
}
