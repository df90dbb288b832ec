package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// passportView is a passport as the admin API shows it: never a token.
type passportView struct {
	ID          string      `json:"id"`
	Provider    string      `json:"provider"`
	DisplayName string      `json:"displayName"`
	Status      string      `json:"status"`
	Account     accountView `json:"account"`
	Scopes      []string    `json:"scopes"`
	Expiry      string      `json:"expiry"`
	LastRefresh string      `json:"lastRefresh"`
	LastError   string      `json:"lastError"`
}

type accountView struct {
	Email string `json:"email"`
	ID    string `json:"id"`
	Name  string `json:"name"`
}

func viewOf(p *passport.Passport) passportView {
	status := p.Status
	if status == "" {
		status = passport.StatusInactive
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return passportView{
		ID: p.ID, Provider: p.Provider, DisplayName: p.DisplayName, Status: status,
		Account: accountView{Email: p.AccountEmail, ID: p.AccountID, Name: p.AccountName},
		Scopes:  strings.Fields(p.Scope), Expiry: ts(p.Expiry), LastRefresh: ts(p.LastRefresh), LastError: p.LastError,
	}
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// adminRoute is one route of the admin API. path is matched segment by
// segment; "{id}" stands for a passport or instance id, which is checked
// with vaultstore.ValidID before serve runs (ids become Vault paths, so a
// "." or ".." would address the folder above, or the prefix itself).
type adminRoute struct {
	method string
	path   []string
	// needsBody: the route always reads a JSON body. Others read none, or
	// one only for some passports (connect: Appspace credentials), and
	// readJSON insists on the label there.
	needsBody bool
	serve     func(a *AdminHandler, ctx context.Context, r *http.Request, id string) (status int, out any, err error)
}

// adminRoutes lists every admin API route, so that every one gets the same
// id check and the same media-type check.
var adminRoutes = []adminRoute{
	{method: http.MethodGet, path: []string{"providers"}, serve: func(a *AdminHandler, ctx context.Context, _ *http.Request, _ string) (int, any, error) {
		out, err := a.listProviders(ctx)
		return http.StatusOK, out, err
	}},
	{method: http.MethodGet, path: []string{"widgets"}, serve: func(a *AdminHandler, _ context.Context, _ *http.Request, _ string) (int, any, error) {
		return http.StatusOK, a.listWidgets(), nil
	}},
	{method: http.MethodGet, path: []string{"passports"}, serve: func(a *AdminHandler, ctx context.Context, _ *http.Request, _ string) (int, any, error) {
		out, err := a.listPassports(ctx)
		return http.StatusOK, out, err
	}},
	{method: http.MethodPost, path: []string{"passports"}, needsBody: true, serve: func(a *AdminHandler, ctx context.Context, r *http.Request, _ string) (int, any, error) {
		out, err := a.createPassport(ctx, r)
		return http.StatusCreated, out, err
	}},
	{method: http.MethodGet, path: []string{"passports", "{id}"}, serve: func(a *AdminHandler, ctx context.Context, _ *http.Request, id string) (int, any, error) {
		out, err := a.getPassport(ctx, id)
		return http.StatusOK, out, err
	}},
	{method: http.MethodDelete, path: []string{"passports", "{id}"}, serve: func(a *AdminHandler, ctx context.Context, _ *http.Request, id string) (int, any, error) {
		return http.StatusNoContent, nil, a.app.store.DeletePassport(ctx, id)
	}},
	{method: http.MethodPost, path: []string{"passports", "{id}", "connect"}, serve: func(a *AdminHandler, ctx context.Context, r *http.Request, id string) (int, any, error) {
		out, err := a.connect(ctx, r, id)
		return http.StatusOK, out, err
	}},
	{method: http.MethodPost, path: []string{"passports", "{id}", "disconnect"}, serve: func(a *AdminHandler, ctx context.Context, _ *http.Request, id string) (int, any, error) {
		p, err := a.flow.Disconnect(ctx, id)
		if err != nil {
			return 0, nil, err
		}
		a.app.cache.Store(p)
		return http.StatusOK, viewOf(p), nil
	}},
	{method: http.MethodGet, path: []string{"bindings"}, serve: func(a *AdminHandler, ctx context.Context, _ *http.Request, _ string) (int, any, error) {
		out, err := a.listBindings(ctx)
		return http.StatusOK, out, err
	}},
	{method: http.MethodPut, path: []string{"bindings", "{id}"}, needsBody: true, serve: func(a *AdminHandler, ctx context.Context, r *http.Request, id string) (int, any, error) {
		out, err := a.putBindings(ctx, r, id)
		return http.StatusOK, out, err
	}},
}

// match reports whether seg has the route's shape, and the id in it.
func (rt *adminRoute) match(seg []string) (id string, ok bool) {
	if len(seg) != len(rt.path) {
		return "", false
	}
	for i, want := range rt.path {
		switch {
		case want == "{id}":
			id = seg[i]
		case seg[i] != want:
			return "", false
		}
	}
	return id, true
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

// serveAPI routes rest, the escaped path after ".../api/".
func (a *AdminHandler) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	seg := apiSegments(rest)
	var (
		rt    *adminRoute
		id    string
		allow []string
	)
	for i := range adminRoutes {
		if v, ok := adminRoutes[i].match(seg); ok {
			if adminRoutes[i].method == r.Method {
				rt, id = &adminRoutes[i], v
				break
			}
			allow = append(allow, adminRoutes[i].method)
		}
	}
	if rt == nil {
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, newProblem(http.StatusMethodNotAllowed, "method_not_allowed", "this admin API route takes "+strings.Join(allow, ", ")))
			return
		}
		writeProblem(w, newProblem(http.StatusNotFound, "not_found", "no such admin API route"))
		return
	}
	if slices.Contains(rt.path, "{id}") && !vaultstore.ValidID(id) {
		what := "passport"
		if rt.path[0] == "bindings" {
			what = "instance"
		}
		writeProblem(w, newProblem(http.StatusBadRequest, "invalid_id",
			"not a valid "+what+" id: 1 to 128 of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit, without \"..\""))
		return
	}
	if !safeMethod(r.Method) {
		if prob := checkMediaType(r, rt.needsBody); prob != nil {
			writeProblem(w, prob)
			return
		}
	}
	status, out, err := rt.serve(a, ctx, r, id)
	if err != nil {
		writeProblem(w, a.apiProblem(err))
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSONStatus(w, status, out)
}

// apiProblem maps an error to a problem; messages never hold a secret.
func (a *AdminHandler) apiProblem(err error) *problem {
	var ce *connect.Error
	var bad badRequest
	var prob *problem
	switch {
	case errors.As(err, &prob):
		return prob
	case errors.As(err, &ce):
		return newProblem(http.StatusBadRequest, ce.Reason, ce.Message)
	case errors.As(err, &bad):
		return newProblem(http.StatusBadRequest, "invalid_request", string(bad))
	case errors.Is(err, passport.ErrNotFound):
		return newProblem(http.StatusNotFound, "unknown_passport", "no such passport")
	case errors.Is(err, vaultstore.ErrConflict):
		return newProblem(http.StatusConflict, "conflict", "it changed meanwhile, or already exists; reload and try again")
	}
	a.logger.Warn("admin API: Vault unavailable", zap.Error(err))
	p := newProblem(http.StatusServiceUnavailable, "vault_unavailable", "the secret store cannot be reached; try again shortly")
	p.RetryAfter = 5
	return p
}

type badRequest string

func (b badRequest) Error() string { return string(b) }

// readJSON decodes the body into v. The body must be labelled JSON:
// serveAPI has refused other types already; here a body is needed, so a
// request without a Content-Type is refused too.
func readJSON(r *http.Request, v any) error {
	if prob := checkMediaType(r, true); prob != nil {
		return prob
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v); err != nil {
		return badRequest("the body must be JSON: " + err.Error())
	}
	return nil
}

type providerView struct {
	Name                  string `json:"name"`
	DisplayName           string `json:"displayName"`
	Kind                  string `json:"kind"`
	Custom                bool   `json:"custom"`
	Source                string `json:"source"`
	CredentialsConfigured bool   `json:"credentialsConfigured"`
}

func (a *AdminHandler) listProviders(ctx context.Context) (any, error) {
	names := make([]string, 0, len(a.app.providers))
	for n, p := range a.app.providers {
		if _, managed := p.Protocol(); managed {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]providerView, 0, len(names))
	for _, n := range names {
		p := a.app.providers[n]
		proto, _ := p.Protocol()
		configured := !proto.NeedsClientCredentials() // Appspace tokens need no client
		if !configured {
			c, err := a.app.refresher.Credentials(ctx, p)
			configured = err == nil && c.ClientID != ""
		}
		out = append(out, providerView{Name: n, DisplayName: p.DisplayName, Kind: string(p.Kind),
			Custom: strings.HasPrefix(n, "custom:"), Source: p.Source, CredentialsConfigured: configured})
	}
	return map[string]any{"providers": out}, nil
}

type widgetView struct {
	ID              string     `json:"id"`
	Authentications []authView `json:"authentications"`
	BundledProvider string     `json:"bundledProvider"`
}

type authView struct {
	AuthKey  string `json:"authKey"`
	Label    string `json:"label"`
	Provider string `json:"provider"`
}

func (a *AdminHandler) listWidgets() any {
	var out []widgetView
	for _, id := range a.app.catalog.IDs() {
		w, _ := a.app.catalog.Widget(id)
		v := widgetView{ID: id, Authentications: []authView{}}
		if w.Bundled != nil {
			v.BundledProvider = w.Bundled.Provider()
		}
		for _, au := range w.Auths {
			v.Authentications = append(v.Authentications, authView{AuthKey: au.Key, Label: au.Label, Provider: au.Provider})
		}
		slices.SortFunc(v.Authentications, func(x, y authView) int { return strings.Compare(x.AuthKey, y.AuthKey) })
		out = append(out, v)
	}
	return map[string]any{"widgets": out}
}

func (a *AdminHandler) listPassports(ctx context.Context) (any, error) {
	ids, err := a.app.store.ListPassports(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]passportView, 0, len(ids))
	for _, id := range ids {
		rec, err := a.app.store.PassportRecord(ctx, id)
		if err != nil {
			continue // deleted meanwhile, or malformed
		}
		out = append(out, viewOf(rec.Passport))
	}
	return map[string]any{"passports": out}, nil
}

func (a *AdminHandler) getPassport(ctx context.Context, id string) (any, error) {
	rec, err := a.app.store.PassportRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	return viewOf(rec.Passport), nil
}

var slugUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

func (a *AdminHandler) createPassport(ctx context.Context, r *http.Request) (any, error) {
	var in struct {
		Provider    string `json:"provider"`
		DisplayName string `json:"displayName"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	prov, ok := a.app.provider(in.Provider)
	if ok {
		_, ok = prov.Protocol() // known by name but not managed (Tableau): refused like unknown
	}
	if !ok {
		return nil, badRequest(fmt.Sprintf("unknown provider %q", in.Provider))
	}
	if in.DisplayName == "" {
		in.DisplayName = prov.DisplayName
	}
	if len(in.DisplayName) > 200 {
		return nil, badRequest("displayName is longer than 200 bytes")
	}
	slug := strings.Trim(slugUnsafe.ReplaceAllString(strings.ToLower(in.DisplayName), "-"), "-")
	if len(slug) > 40 || slug == "" {
		slug = strings.Trim(slugUnsafe.ReplaceAllString(strings.ToLower(in.Provider), "-"), "-")
	}
	b := make([]byte, 3)
	rand.Read(b)
	id := slug + "-" + hex.EncodeToString(b)
	rec, err := a.app.store.CreatePassport(ctx, id, map[string]any{
		"provider": prov.Name, "status": passport.StatusInactive, "display_name": in.DisplayName,
	})
	if err != nil {
		return nil, err
	}
	return viewOf(rec.Passport), nil
}

// connect starts an OAuth connect (returns the authorization URL), or, for
// Appspace API v3 passports, stores the pasted credentials and validates
// them with a first redemption.
func (a *AdminHandler) connect(ctx context.Context, r *http.Request, id string) (any, error) {
	rec, err := a.app.store.PassportRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	prov, ok := a.app.provider(rec.Passport.Provider)
	if ok && pastesCredentials(prov) {
		return a.connectAppspace(ctx, r, rec)
	}
	u, err := a.flow.Start(ctx, rec.Passport)
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

func (a *AdminHandler) connectAppspace(ctx context.Context, r *http.Request, rec *vaultstore.Record) (any, error) {
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
	// Stored as an active passport whose token is already expired: the
	// first redemption then validates what the administrator pasted.
	next, err := a.app.store.UpdatePassport(ctx, rec, map[string]string{
		"status": passport.StatusActive, "subject_id": in.SubjectID, "refresh_token": in.RefreshToken,
		"instance_url": in.InstanceURL, "access_token": "pending", "expiry": time.Unix(0, 0).UTC().Format(time.RFC3339),
		"last_error": "", "retry_after": "",
	})
	if err != nil {
		return nil, err
	}
	p, err := a.app.refresher.Refresh(ctx, next.Passport)
	if err != nil {
		if again, rerr := a.app.store.PassportRecord(ctx, rec.Passport.ID); rerr == nil {
			a.app.store.UpdatePassport(ctx, again, map[string]string{"status": passport.StatusInactive, "access_token": "", "refresh_token": "", "last_error": "invalid_credentials"})
		}
		return nil, &connect.Error{Reason: "invalid_credentials", Message: "Appspace did not accept the subject id and refresh token; the passport stays inactive."}
	}
	a.app.cache.Store(p)
	return viewOf(p), nil
}

func (a *AdminHandler) listBindings(ctx context.Context) (any, error) {
	ids, err := a.app.store.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	type inst struct {
		Instance string            `json:"instance"`
		Bindings passport.Bindings `json:"bindings"`
	}
	out := make([]inst, 0, len(ids))
	for _, id := range ids {
		b, err := a.app.store.Bindings(ctx, id)
		if err != nil {
			continue
		}
		out = append(out, inst{Instance: id, Bindings: b})
	}
	return map[string]any{"instances": out}, nil
}

func (a *AdminHandler) putBindings(ctx context.Context, r *http.Request, instance string) (any, error) {
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
	if err := a.app.store.PutBindings(ctx, instance, b); err != nil {
		return nil, err
	}
	a.app.cache.ForgetBindings(instance)
	return map[string]any{"instance": instance, "bindings": b}, nil
}

// serveCallback completes a connect and shows the administrator what
// happened, telling the operator page (the popup's opener) too.
func (a *AdminHandler) serveCallback(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	p, err := a.flow.Finish(ctx, r.URL.Query())
	result, id, message := "connected", "", ""
	switch {
	case err == nil:
		a.app.cache.Store(p)
		id = p.ID
		who := p.AccountEmail
		if who == "" {
			who = p.AccountName
		}
		message = "Connected"
		if who != "" {
			message += " as " + who
		}
		message += ". You can close this window."
	default:
		result = "failed"
		var ce *connect.Error
		if errors.As(err, &ce) {
			message = ce.Message
		} else {
			message = "The secret store cannot be reached; nothing was saved. Try again shortly."
		}
		a.logger.Info("passport connect failed", zap.String("reason", message))
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	n := hex.EncodeToString(nonce)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the URL holds the code and state
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-"+n+"'")
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>widgetgate: passport</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:3rem auto;max-width:32rem;color:#0f172a}.ok{color:#15803d}.err{color:#b91c1c}</style></head>
<body data-result="%s" data-passport="%s"><h1 class="%s">%s</h1><p id="message">%s</p>
<script nonce="%s">
(function(){var b=document.body;if(window.opener){try{window.opener.postMessage({widgetgateAdmin:b.dataset.result,passport:b.dataset.passport,message:document.getElementById('message').textContent},location.origin);}catch(e){}}
if(b.dataset.result==='connected'){setTimeout(function(){window.close();},1500);}})();
</script></body></html>`,
		result, html.EscapeString(id), map[bool]string{true: "ok", false: "err"}[err == nil],
		map[bool]string{true: "Passport connected", false: "Passport not connected"}[err == nil], html.EscapeString(message), n)
}
