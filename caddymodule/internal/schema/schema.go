// Package schema reads widget packages (a folder or a .zip holding
// widget.html, schema.json and optional passport/*.json) and compiles their
// authenticatedApis into ready-to-render calls. Everything that can be
// checked without a caller is checked here, at load, so a bad package fails
// the configuration instead of a widget call.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/widgetgate/widgetgate/caddymodule/internal/urltemplate"
)

// File is schema.json as the widget developer guide defines it. Only the
// parts widgetgate acts on are declared; other keys are ignored.
type File struct {
	Passport          *PassportRef     `json:"passport,omitempty"`
	Authentications   []Authentication `json:"authentications"`
	AuthenticatedAPIs []APISpec        `json:"authenticatedApis"`
	// Configuration declares what an administrator sets per instance.
	Configuration *ConfigurationSpec `json:"configuration,omitempty"`
}

// PassportRef points at a custom passport JSON bundled in the package.
type PassportRef struct {
	FilePath string `json:"filePath"`
}

// Authentication declares one authentication the widget needs.
type Authentication struct {
	Label              string             `json:"label,omitempty"`
	AuthenticationType string             `json:"authenticationType"`
	AuthKey            string             `json:"authKey"`
	Metadata           AuthenticationMeta `json:"metadata"`
}

// AuthenticationMeta filters which passports can serve an authentication.
type AuthenticationMeta struct {
	PassportProvider string `json:"passportProvider,omitempty"`
	PassportType     string `json:"passportType,omitempty"`
}

// APISpec is one authenticatedApis entry as written in schema.json.
type APISpec struct {
	Label             string            `json:"label"`
	Name              string            `json:"name"`
	URL               string            `json:"url"`
	Method            string            `json:"method"`
	AuthenticationKey string            `json:"authenticationKey"`
	Headers           map[string]string `json:"headers,omitempty"`
	Body              json.RawMessage   `json:"body,omitempty"`
	// ParamPatterns (a widgetgate extension) narrows what a param may be,
	// e.g. {"userId": "[0-9]+"}. Each pattern must match the whole value.
	ParamPatterns map[string]string `json:"paramPatterns,omitempty"`
}

// Options are the operator's choices that affect what a schema may contain.
type Options struct {
	// AllowHTTP permits plain-http API URLs (tests, internal services).
	AllowHTTP bool
	// AllowIPHost says whether an API URL may name an IP literal host;
	// nil refuses every literal.
	AllowIPHost func(host string) bool
}

// Widget is a loaded, validated widget package.
type Widget struct {
	ID     string
	Source string // folder or zip path, for messages
	Auths  map[string]*Auth
	APIs   map[string]*API
	// Bundled is the custom passport the package ships, if any.
	Bundled *BundledPassport
	// HTML is the package's widget.html (nil when it has none), served to
	// widget hosts with the browser kit injected.
	HTML []byte
	// Configuration holds the fields each instance is configured with;
	// never nil (no fields when the schema declares none).
	Configuration *Configuration
}

// Auth is a compiled authentications entry.
type Auth struct {
	Key   string
	Label string
	// Provider is metadata.passportProvider: the provider a bound passport
	// must have ("google", "custom:my-api-connector"). Empty accepts any.
	Provider string
}

// API is a compiled authenticatedApis entry, ready to render per call.
type API struct {
	WidgetID string
	Name     string
	Label    string
	Method   string
	URL      *urltemplate.URL
	Auth     *Auth
	Headers  []Header
	// Body is the static request body, already encoded; nil when none.
	Body []byte
	// BodyContentType is set when Body is JSON and the schema's headers do
	// not name a Content-Type.
	BodyContentType string
	// UsesUser reports whether the URL or a header needs {user.id}.
	UsesUser bool
	// Patterns are the compiled ParamPatterns, anchored at both ends.
	Patterns map[string]*regexp.Regexp
}

// CheckPatterns checks params against the API's declared patterns, on top
// of the default rules every param obeys.
func (a *API) CheckPatterns(params map[string]string) error {
	for name, re := range a.Patterns {
		if v, ok := params[name]; ok && !re.MatchString(v) {
			return &urltemplate.ParamError{Code: urltemplate.CodeInvalidParam, Param: name, Reason: "does not match the pattern the schema declares"}
		}
	}
	return nil
}

// Header is one static header of an API, with its value template.
type Header struct {
	Name  string // canonical form
	Value *urltemplate.Value
}

// reservedHeaders are headers a schema may not set: they describe the
// connection or the message framing (the transport owns them), or carry
// ambient credentials widgetgate must never forward.
var reservedHeaders = map[string]bool{
	"Host": true, "Connection": true, "Transfer-Encoding": true, "Content-Length": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Keep-Alive": true, "Cookie": true,
	"Forwarded": true, "Via": true,
}

var allowedMethods = map[string]bool{
	http.MethodGet: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true,
}

// compile validates f and builds the widget's APIs. Every problem is
// recorded in c against file, naming the field; an authentication or an API
// with a problem is left out of w.
func compile(w *Widget, f *File, opt Options, file string, c *collector) {
	fail := func(field, format string, args ...any) { c.add(file, field, fmt.Errorf(format, args...)) }
	w.Auths = make(map[string]*Auth, len(f.Authentications))
	for i, a := range f.Authentications {
		field := fmt.Sprintf("authentications[%d]", i)
		keyOK := false
		switch _, dup := w.Auths[a.AuthKey]; {
		case a.AuthKey == "":
			fail(field+".authKey", "required")
		case !validKey(a.AuthKey):
			fail(field+".authKey", "%q: use letters, digits, '_' or '-'", a.AuthKey)
		case dup:
			fail(field+".authKey", "%q is declared twice", a.AuthKey)
		default:
			keyOK = true
		}
		if a.AuthenticationType != "passport" {
			fail(field+".authenticationType", "must be \"passport\", got %q", a.AuthenticationType)
		}
		if keyOK {
			// Registered even when its type is wrong, so that the APIs
			// using it are not also reported.
			w.Auths[a.AuthKey] = &Auth{Key: a.AuthKey, Label: a.Label, Provider: a.Metadata.PassportProvider}
		}
	}
	w.Configuration = compileConfiguration(f.Configuration, file, c)
	w.APIs = make(map[string]*API, len(f.AuthenticatedAPIs))
	names := map[string]bool{}
	for i, spec := range f.AuthenticatedAPIs {
		field := APIField(i, spec.Name)
		before := len(c.errs)
		api := compileAPI(w, spec, opt, file, field, c)
		if validKey(spec.Name) {
			if names[spec.Name] {
				fail(field+".name", "%q is used by another API of this widget", spec.Name)
			}
			names[spec.Name] = true
		}
		if len(c.errs) == before {
			w.APIs[api.Name] = api
		}
	}
}

// APIField names the authenticatedApis entry at index i in problems:
// "authenticatedApis[2] (getData)", or "authenticatedApis[2]" when it has
// no name.
func APIField(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("authenticatedApis[%d]", i)
	}
	return fmt.Sprintf("authenticatedApis[%d] (%s)", i, name)
}

// compileAPI checks one authenticatedApis entry, recording each problem in
// c under field. The API it returns is complete only when it recorded none.
func compileAPI(w *Widget, spec APISpec, opt Options, file, field string, c *collector) *API {
	fail := func(sub string, err error) { c.add(file, field+"."+sub, err) }
	switch {
	case spec.Name == "":
		fail("name", errors.New("required"))
	case !validKey(spec.Name):
		fail("name", fmt.Errorf("%q: use letters, digits, '_' or '-'", spec.Name))
	}
	api := &API{WidgetID: w.ID, Name: spec.Name, Label: spec.Label, Method: strings.ToUpper(spec.Method)}
	if !allowedMethods[api.Method] {
		fail("method", fmt.Errorf("%q is not one of GET, POST, PUT, PATCH, DELETE", spec.Method))
	}
	auth, authOK := w.Auths[spec.AuthenticationKey]
	if authOK {
		api.Auth = auth
	} else {
		fail("authenticationKey", fmt.Errorf("%q matches no authentications[].authKey", spec.AuthenticationKey))
	}
	if u, err := urltemplate.ParseURL(spec.URL, urltemplate.ParseOptions{AllowHTTP: opt.AllowHTTP}); err != nil {
		fail("url", err)
	} else {
		api.URL = u
		api.UsesUser = u.UsesUser()
		if host := u.Hostname(); net.ParseIP(host) != nil && (opt.AllowIPHost == nil || !opt.AllowIPHost(host)) {
			fail("url", fmt.Errorf("host %s is an IP address; providers are addressed by name (an operator can allow it with egress_allow)", host))
		}
	}

	// Sorted, so that problems come out in a stable order and requests
	// are reproducible (map order is random).
	hasContentType := false
	for _, name := range slices.Sorted(maps.Keys(spec.Headers)) {
		h, err := compileHeader(name, spec.Headers[name], spec.AuthenticationKey, authOK)
		if err != nil {
			fail("headers."+name, err)
			continue
		}
		if slices.ContainsFunc(api.Headers, func(prev Header) bool { return prev.Name == h.Name }) {
			fail("headers."+name, fmt.Errorf("%s is set twice", h.Name))
			continue
		}
		hasContentType = hasContentType || h.Name == "Content-Type"
		api.UsesUser = api.UsesUser || h.Value.UsesUser()
		api.Headers = append(api.Headers, h)
	}
	slices.SortFunc(api.Headers, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })

	for _, name := range slices.Sorted(maps.Keys(spec.ParamPatterns)) {
		re, err := regexp.Compile(`^(?:` + spec.ParamPatterns[name] + `)$`)
		if err != nil {
			fail("paramPatterns."+name, err)
			continue
		}
		if api.Patterns == nil {
			api.Patterns = map[string]*regexp.Regexp{}
		}
		api.Patterns[name] = re
	}

	if len(spec.Body) > 0 && string(spec.Body) != "null" {
		body, isJSON, err := compileBody(spec.Body)
		if err != nil {
			fail("body", err)
		} else {
			api.Body = body
			if isJSON && !hasContentType {
				api.BodyContentType = "application/json"
			}
		}
	}
	return api
}

// compileHeader checks one header. Which tokens it may inject is checked
// only when the API's authKey is known (known): otherwise that is the
// problem, already reported.
func compileHeader(name, raw, authKey string, known bool) (Header, error) {
	if !httpguts.ValidHeaderFieldName(name) {
		return Header{}, fmt.Errorf("not a valid header name")
	}
	canon := http.CanonicalHeaderKey(name)
	if reservedHeaders[canon] || strings.HasPrefix(canon, "Proxy-") || strings.HasPrefix(canon, "X-Forwarded-") {
		return Header{}, fmt.Errorf("%s is managed by widgetgate and cannot be set by a schema", canon)
	}
	v, err := urltemplate.ParseValue(raw)
	if err != nil {
		return Header{}, err
	}
	for _, k := range v.AuthKeys() {
		if known && k != authKey {
			return Header{}, fmt.Errorf("{authorization.%s.token}: this API authenticates with %q; a header may only inject that key's token", k, authKey)
		}
	}
	if canon == "Authorization" && len(v.AuthKeys()) == 0 {
		return Header{}, fmt.Errorf("an Authorization header must inject the passport token with {authorization.%s.token}", authKey)
	}
	return Header{Name: canon, Value: v}, nil
}

// compileBody turns the schema's static body into the bytes sent upstream:
// a JSON object or array is compacted, a string is sent as written.
func compileBody(raw json.RawMessage) (body []byte, isJSON bool, err error) {
	switch raw[0] {
	case '{', '[':
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, false, err
		}
		return b.Bytes(), true, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false, err
		}
		return []byte(s), false, nil
	}
	return nil, false, fmt.Errorf("must be a JSON object, array or string")
}

// validKey reports whether s can be an authKey or an API name: both appear
// in URLs and template variables, so they are kept to a plain alphabet.
func validKey(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
