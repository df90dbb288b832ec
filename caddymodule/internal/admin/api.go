package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// route is one route of the admin API. path is matched segment by
// segment; "{id}" stands for a passport, instance or widget id, which is
// checked with its idRule before serve runs, and "{widget}" for a widget
// id after an instance id.
type route struct {
	method string
	path   []string
	// needsBody: the route always reads a body. Others read none, or one
	// only for some passports (connect: Appspace credentials), and readJSON
	// insists on the label there.
	needsBody bool
	// mediaType is the body's media type; empty means application/json.
	mediaType string
	// audit is the action the route performs, for the audit log (audit.go);
	// empty for routes that only read.
	audit Action
	serve func(h *Handler, ctx context.Context, r *http.Request, t target) (status int, out any, err error)
}

// routes lists every admin API route, so that every one gets the same
// id check and the same media-type check.
var routes = []route{
	{method: http.MethodGet, path: []string{"providers"}, serve: func(h *Handler, ctx context.Context, _ *http.Request, _ target) (int, any, error) {
		out, err := h.listProviders(ctx)
		return http.StatusOK, out, err
	}},
	{method: http.MethodGet, path: []string{"widgets"}, serve: func(h *Handler, _ context.Context, _ *http.Request, _ target) (int, any, error) {
		return http.StatusOK, h.listWidgets(), nil
	}},
	{method: http.MethodPut, path: []string{"widgets", "{id}"}, needsBody: true, mediaType: zipMediaType, audit: ActionWidgetUpload, serve: func(h *Handler, ctx context.Context, r *http.Request, t target) (int, any, error) {
		out, err := h.putWidget(ctx, r, t.id)
		return http.StatusOK, out, err
	}},
	{method: http.MethodDelete, path: []string{"widgets", "{id}"}, audit: ActionWidgetDelete, serve: func(h *Handler, _ context.Context, _ *http.Request, t target) (int, any, error) {
		return http.StatusNoContent, nil, h.deleteWidget(t.id)
	}},
	{method: http.MethodGet, path: []string{"passports"}, serve: func(h *Handler, ctx context.Context, _ *http.Request, _ target) (int, any, error) {
		out, err := h.listPassports(ctx)
		return http.StatusOK, out, err
	}},
	{method: http.MethodPost, path: []string{"passports"}, needsBody: true, audit: ActionPassportCreate, serve: func(h *Handler, ctx context.Context, r *http.Request, _ target) (int, any, error) {
		out, err := h.createPassport(ctx, r)
		return http.StatusCreated, out, err
	}},
	{method: http.MethodGet, path: []string{"passports", "{id}"}, serve: func(h *Handler, ctx context.Context, _ *http.Request, t target) (int, any, error) {
		out, err := h.getPassport(ctx, t.id)
		return http.StatusOK, out, err
	}},
	{method: http.MethodDelete, path: []string{"passports", "{id}"}, audit: ActionPassportDelete, serve: func(h *Handler, ctx context.Context, _ *http.Request, t target) (int, any, error) {
		if err := h.Store.DeletePassport(ctx, t.id); err != nil {
			return 0, nil, err
		}
		h.Cache.Forget(t.id)
		return http.StatusNoContent, nil, nil
	}},
	{method: http.MethodPost, path: []string{"passports", "{id}", "connect"}, audit: ActionConnectStart, serve: func(h *Handler, ctx context.Context, r *http.Request, t target) (int, any, error) {
		out, err := h.connect(ctx, r, t.id)
		return http.StatusOK, out, err
	}},
	{method: http.MethodPost, path: []string{"passports", "{id}", "disconnect"}, audit: ActionDisconnect, serve: func(h *Handler, ctx context.Context, _ *http.Request, t target) (int, any, error) {
		p, err := h.Flow.Disconnect(ctx, t.id)
		if err != nil {
			return 0, nil, err
		}
		h.Cache.Store(p)
		return http.StatusOK, viewOf(p), nil
	}},
	{method: http.MethodGet, path: []string{"bindings"}, serve: func(h *Handler, ctx context.Context, _ *http.Request, _ target) (int, any, error) {
		out, err := h.listBindings(ctx)
		return http.StatusOK, out, err
	}},
	{method: http.MethodPut, path: []string{"bindings", "{id}"}, needsBody: true, audit: ActionBindingsUpdate, serve: func(h *Handler, ctx context.Context, r *http.Request, t target) (int, any, error) {
		out, err := h.putBindings(ctx, r, t.id)
		return http.StatusOK, out, err
	}},
	{method: http.MethodGet, path: configPath, serve: func(h *Handler, ctx context.Context, _ *http.Request, t target) (int, any, error) {
		out, err := h.getConfig(ctx, t)
		return http.StatusOK, out, err
	}},
	{method: http.MethodPut, path: configPath, needsBody: true, audit: ActionConfigUpdate, serve: func(h *Handler, ctx context.Context, r *http.Request, t target) (int, any, error) {
		out, err := h.putConfig(ctx, r, t)
		return http.StatusOK, out, err
	}},
	{method: http.MethodDelete, path: configPath, audit: ActionConfigReset, serve: func(h *Handler, ctx context.Context, _ *http.Request, t target) (int, any, error) {
		return http.StatusNoContent, nil, h.resetConfig(ctx, t)
	}},
}

// configPath is the route of an instance's configuration of a widget.
var configPath = []string{"instances", "{id}", "config", "{widget}"}

// target is what a route acts on: the "{id}" of its path, and the
// "{widget}" of the routes that have one.
type target struct{ id, widget string }

// String names t in the audit log: "lobby", or "lobby/clock".
func (t target) String() string {
	if t.widget == "" {
		return t.id
	}
	return t.id + "/" + t.widget
}

// idRule is what an "{id}" segment may be, by the route's first segment.
type idRule struct {
	valid   func(string) bool
	problem string // the message of the 400 refusing it
}

var (
	// Passport and instance ids become Vault paths, so a "." or ".." would
	// address the folder above, or the prefix itself.
	vaultIDRule = "1 to 128 of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit, without \"..\""
	idRules     = map[string]idRule{
		"passports": {vaultstore.ValidID, "not a valid passport id: " + vaultIDRule},
		"bindings":  {vaultstore.ValidID, "not a valid instance id: " + vaultIDRule},
		"instances": {vaultstore.ValidID, "not a valid instance id: " + vaultIDRule},
		// Widget ids become file names in the widgets directory.
		"widgets": {schema.ValidWidgetID, "not a valid widget id: 1 to 128 of A-Z a-z 0-9 . _ -, starting with a letter or digit"},
	}
)

// widgetRule is what a "{widget}" segment may be. Widget ids become file
// names in the widgets directory, and with an instance a Vault path.
var widgetRule = idRule{
	func(id string) bool { return schema.ValidWidgetID(id) && vaultstore.ValidID(id) },
	"not a valid widget id: 1 to 128 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
}

// check returns the 400 refusing t, or nil when the route takes it.
func (rt *route) check(t target) *problem.Problem {
	if slices.Contains(rt.path, "{id}") && !idRules[rt.path[0]].valid(t.id) {
		return problem.New(http.StatusBadRequest, "invalid_id", idRules[rt.path[0]].problem)
	}
	if slices.Contains(rt.path, "{widget}") && !widgetRule.valid(t.widget) {
		return problem.New(http.StatusBadRequest, "invalid_id", widgetRule.problem)
	}
	return nil
}

// match reports whether seg has the route's shape, and the target in it.
func (rt *route) match(seg []string) (t target, ok bool) {
	if len(seg) != len(rt.path) {
		return target{}, false
	}
	for i, want := range rt.path {
		switch {
		case want == "{id}":
			t.id = seg[i]
		case want == "{widget}":
			t.widget = seg[i]
		case seg[i] != want:
			return target{}, false
		}
	}
	return t, true
}

// apiSegments splits rest, the escaped path after ".../api/", and decodes
// each segment on its own: an encoded slash ("a%2Fb") stays inside its
// segment, where the id check refuses it, instead of becoming a separator
// that moves the request to another route.
func apiSegments(rest string) []string {
	seg := strings.Split(strings.Trim(rest, "/"), "/")
	for i, s := range seg {
		if u, err := url.PathUnescape(s); err == nil {
			seg[i] = u
		} // else: kept escaped; its '%' fails any id check and matches no route
	}
	return seg
}

// matchRoute finds the route for method and rest, the escaped path after
// ".../api/", with the target in it; when none has that method, allow
// lists the methods the path takes.
func matchRoute(method, rest string) (rt *route, t target, allow []string) {
	seg := apiSegments(rest)
	for i := range routes {
		if v, ok := routes[i].match(seg); ok {
			if routes[i].method == method {
				return &routes[i], v, nil
			}
			allow = append(allow, routes[i].method)
		}
	}
	return nil, target{}, allow
}

// auditRefusedAPI writes the audit line of an action refused before it
// was authorized (audit.go); requests that only read are not audited.
func (h *Handler) auditRefusedAPI(r *http.Request, rest, outcome string) {
	rt, t, _ := matchRoute(r.Method, rest)
	if rt == nil || rt.audit == "" {
		return
	}
	if rt.check(t) != nil {
		t = target{} // junk a caller sent, not a target
	}
	h.auditRefused(r, rt.audit, t.String(), outcome)
}

// serveAPI routes rest, the escaped path after ".../api/".
func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	rt, t, allow := matchRoute(r.Method, rest)
	if rt == nil {
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			problem.Write(w, problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "this admin API route takes "+strings.Join(allow, ", ")))
			return
		}
		problem.Write(w, problem.New(http.StatusNotFound, "not_found", "no such admin API route"))
		return
	}
	if prob := rt.check(t); prob != nil {
		_, rec := withAudit(ctx, rt.audit, "") // the id is junk a caller sent, not a target
		h.auditAPI(r, rec, prob.Code)
		problem.Write(w, prob)
		return
	}
	ctx, rec := withAudit(ctx, rt.audit, t.String())
	if !safeMethod(r.Method) {
		if prob := checkMediaType(r, rt.mediaType, rt.needsBody); prob != nil {
			h.auditAPI(r, rec, prob.Code)
			problem.Write(w, prob)
			return
		}
	}
	status, out, err := rt.serve(h, ctx, r, t)
	if err != nil {
		prob := h.apiProblem(err)
		h.auditAPI(r, rec, prob.Code)
		problem.Write(w, prob)
		return
	}
	h.auditAPI(r, rec, outcomeOK)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSONStatus(w, status, out)
}

// apiProblem maps an error to a problem; messages never hold a secret.
func (h *Handler) apiProblem(err error) *problem.Problem {
	var ce *connect.Error
	var bad badRequest
	var prob *problem.Problem
	switch {
	case errors.As(err, &prob):
		return prob
	case errors.As(err, &ce):
		return problem.New(http.StatusBadRequest, ce.Reason, ce.Message)
	case errors.As(err, &bad):
		return problem.New(http.StatusBadRequest, "invalid_request", string(bad))
	case errors.Is(err, passport.ErrNotFound):
		return problem.New(http.StatusNotFound, "unknown_passport", "no such passport")
	case errors.Is(err, vaultstore.ErrConflict):
		return problem.New(http.StatusConflict, "conflict", "it changed meanwhile, or already exists; reload and try again")
	}
	h.Logger.Warn("admin API: Vault unavailable", "error", err)
	p := problem.New(http.StatusServiceUnavailable, "vault_unavailable", "the secret store cannot be reached; try again shortly")
	p.RetryAfter = 5
	return p
}

type badRequest string

func (b badRequest) Error() string { return string(b) }

// readJSON decodes the body into v. The body must be labelled JSON:
// serveAPI has refused other types already; here a body is needed, so a
// request without a Content-Type is refused too.
func readJSON(r *http.Request, v any) error { return readJSONMax(r, v, 64<<10) }

func (h *Handler) listProviders(ctx context.Context) (any, error) {
	names := make([]string, 0, len(h.Providers()))
	for n, p := range h.Providers() {
		if _, managed := p.Protocol(); managed {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]providerView, 0, len(names))
	for _, n := range names {
		p := h.Providers()[n]
		proto, _ := p.Protocol()
		configured := !proto.NeedsClientCredentials() // Appspace tokens need no client
		if !configured {
			c, err := h.Credentials(ctx, p)
			configured = err == nil && c.ClientID != ""
		}
		out = append(out, providerView{Name: n, DisplayName: p.DisplayName, Kind: string(p.Kind),
			Custom: strings.HasPrefix(n, "custom:"), Source: p.Source, CredentialsConfigured: configured})
	}
	return map[string]any{"providers": out}, nil
}

func (h *Handler) listPassports(ctx context.Context) (any, error) {
	ids, err := h.Store.ListPassports(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]passportView, 0, len(ids))
	for _, id := range ids {
		rec, err := h.Store.PassportRecord(ctx, id)
		if err != nil {
			continue // deleted meanwhile, or malformed
		}
		out = append(out, viewOf(rec.Passport))
	}
	return map[string]any{"passports": out}, nil
}

func (h *Handler) getPassport(ctx context.Context, id string) (any, error) {
	rec, err := h.Store.PassportRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	return viewOf(rec.Passport), nil
}

func (h *Handler) createPassport(ctx context.Context, r *http.Request) (any, error) {
	var in struct {
		Provider    string `json:"provider"`
		DisplayName string `json:"displayName"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	prov, ok := h.provider(in.Provider)
	if ok {
		_, ok = prov.Protocol() // known by name but not managed (Tableau): refused like unknown
	}
	if !ok {
		return nil, badRequest(fmt.Sprintf("unknown provider %q", in.Provider))
	}
	noteAudit(ctx, func(rec *auditRecord) { rec.attrs = append(rec.attrs, slog.String("provider", prov.Name)) })
	if in.DisplayName == "" {
		in.DisplayName = prov.DisplayName
	}
	if len(in.DisplayName) > 200 {
		return nil, badRequest("displayName is longer than 200 bytes")
	}
	p, err := h.Flow.Create(ctx, prov, in.DisplayName)
	if err != nil {
		return nil, err
	}
	noteAudit(ctx, func(rec *auditRecord) { rec.target = p.ID })
	return viewOf(p), nil
}

// connect starts an OAuth connect (returns the authorization URL), or, for
// Appspace API v3 passports, stores the pasted credentials and validates
// them with a first redemption.
func (h *Handler) connect(ctx context.Context, r *http.Request, id string) (any, error) {
	rec, err := h.Store.PassportRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	prov, ok := h.provider(rec.Passport.Provider)
	if ok && pastesCredentials(prov) {
		// Pasting connects at once: there is no callback to complete it.
		noteAudit(ctx, func(a *auditRecord) {
			a.action = ActionConnectComplete
			a.attrs = append(a.attrs, slog.String("method", "pasted"), slog.String("provider", prov.Name))
		})
		return h.connectAppspace(ctx, r, rec)
	}
	noteAudit(ctx, func(a *auditRecord) {
		a.attrs = append(a.attrs, slog.String("method", "oauth"), slog.String("provider", rec.Passport.Provider))
	})
	u, err := h.Flow.Start(ctx, rec.Passport)
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorizeUrl": u}, nil
}

// pastesCredentials reports whether prov's passports are connected by
// pasting credentials rather than with a sign-in redirect.
func pastesCredentials(prov *provider.Provider) bool {
	proto, managed := prov.Protocol()
	return managed && proto.Connect() == provider.ConnectPasted
}

func (h *Handler) connectAppspace(ctx context.Context, r *http.Request, rec *vaultstore.Record) (any, error) {
	var in struct {
		SubjectID    string `json:"subjectId"`
		RefreshToken string `json:"refreshToken"`
		InstanceURL  string `json:"instanceUrl"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	if in.SubjectID == "" || in.RefreshToken == "" || provider.CheckEndpointURL(in.InstanceURL) != nil {
		return nil, badRequest("subjectId, refreshToken and an https instanceUrl are required")
	}
	p, err := h.Flow.ConnectPasted(ctx, rec, connect.PastedCredentials{SubjectID: in.SubjectID, RefreshToken: in.RefreshToken, InstanceURL: in.InstanceURL})
	if err != nil {
		return nil, err
	}
	h.Cache.Store(p)
	return viewOf(p), nil
}

func (h *Handler) listBindings(ctx context.Context) (any, error) {
	ids, err := h.Store.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	type inst struct {
		Instance string            `json:"instance"`
		Bindings passport.Bindings `json:"bindings"`
	}
	out := make([]inst, 0, len(ids))
	for _, id := range ids {
		b, err := h.Store.Bindings(ctx, id)
		switch {
		case errors.Is(err, passport.ErrNotFound):
			b = passport.Bindings{} // configured, nothing bound yet
		case err != nil:
			continue
		}
		out = append(out, inst{Instance: id, Bindings: b})
	}
	return map[string]any{"instances": out}, nil
}

func (h *Handler) putBindings(ctx context.Context, r *http.Request, instance string) (any, error) {
	var in map[string]string
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	b := passport.Bindings{}
	for k, v := range in {
		if v == "" {
			continue // unbound
		}
		if !vaultstore.ValidID(v) || len(k) > 128 {
			return nil, badRequest(fmt.Sprintf("invalid binding %q", k))
		}
		b[k] = v
	}
	// Bindings name passports (authKey → passport id): no secret.
	noteAudit(ctx, func(rec *auditRecord) { rec.attrs = append(rec.attrs, slog.Any("bindings", map[string]string(b))) })
	if err := h.Store.PutBindings(ctx, instance, b); err != nil {
		return nil, err
	}
	h.Cache.ForgetBindings(instance)
	return map[string]any{"instance": instance, "bindings": b}, nil
}
