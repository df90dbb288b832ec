package lint

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
)

// schemaWarnings looks at what schema.json declares (f) next to what of
// it compiled (w): only entries without errors are looked at, so that a
// warning never repeats an error.
func schemaWarnings(file string, f *schema.File, w *schema.Widget) []Finding {
	var out []Finding
	warn := func(field, format string, args ...any) {
		out = append(out, Finding{File: file, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	for i, a := range f.Authentications {
		if _, ok := w.Auths[a.AuthKey]; !ok {
			continue
		}
		if !slices.ContainsFunc(f.AuthenticatedAPIs, func(s schema.APISpec) bool { return s.AuthenticationKey == a.AuthKey }) {
			warn(fmt.Sprintf("authentications[%d].authKey", i),
				"%q is used by no API (no authenticatedApis[].authenticationKey names it): the administrator would connect a passport for nothing", a.AuthKey)
		}
	}
	if f.Configuration != nil {
		for i, fs := range f.Configuration.Fields {
			if field := w.Configuration.Field(fs.Name); field != nil && !field.Known {
				warn(schema.ConfigField(i, fs.Name)+".type",
					"%q is not a field type widgetgate knows: its value is kept as opaque text, and the operator page offers a plain text box", fs.Type)
			}
		}
	}
	for i, spec := range f.AuthenticatedAPIs {
		api, ok := w.APIs[spec.Name]
		if !ok || api.URL.String() != spec.URL {
			continue // an error is reported for it
		}
		field := schema.APIField(i, spec.Name)
		if strings.HasPrefix(spec.URL, "http://") {
			warn(field+".url", "plain http: the token would travel unencrypted, and the server refuses it unless the operator sets allow_http_upstreams")
		}
		if host := api.URL.Hostname(); net.ParseIP(host) != nil {
			warn(field+".url", "host %s is an IP address: the server refuses it unless the operator allows it with egress_allow", host)
		}
		inPath := pathParams(spec.URL)
		for _, name := range api.URL.Params() {
			pat, ok := spec.ParamPatterns[name]
			if !ok {
				continue
			}
			where, rule := "query value", "a value without control characters"
			if inPath[name] {
				where, rule = "path segment", `a value that is not empty, not "." or "..", and has no "/" or "\"`
			}
			if !fillable(pat, inPath[name]) {
				warn(field+".url", "no param can fill {param.%s}: paramPatterns.%s accepts no value a %s takes (%s), so every call fails",
					name, name, where, rule)
			}
		}
		for _, v := range bodyVariables(spec.Body) {
			warn(field+".body", "%s is sent as written: the body is static and nothing fills a variable in it (params fill the url only)", v)
		}
	}
	return out
}

// paramVar is a {param.<name>} variable of a URL template.
var paramVar = regexp.MustCompile(`\{param\.([^{}]+)\}`)

// pathParams returns the params a URL template (one that parsed) uses in
// its path, where the stricter path-segment rules apply to their values.
func pathParams(rawURL string) map[string]bool {
	_, rest, _ := strings.Cut(rawURL, "://")
	p, _, _ := strings.Cut(rest, "?")
	out := map[string]bool{}
	for _, m := range paramVar.FindAllStringSubmatch(p, -1) {
		out[m[1]] = true
	}
	return out
}

// templateVar is any variable the url or a header could use.
var templateVar = regexp.MustCompile(`\{(?:param\.[^{}"]+|user\.id|authorization\.[^{}"]+\.token)\}`)

// bodyVariables returns the template variables written in a static body,
// each once, in order.
func bodyVariables(body []byte) []string {
	var out []string
	for _, v := range templateVar.FindAllString(string(body), -1) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// passportWarnings looks at a bundled passport that parsed.
func passportWarnings(file string, p *provider.Provider) []Finding {
	const meta = "customApplicationInfo.metadata."
	var out []Finding
	if p.ClientSecret != "" {
		// The server says the same at load (provider.ImportSecrets).
		out = append(out, Finding{File: file, Field: meta + "clientSecret",
			Message: "a literal client secret: whoever has a copy of the package has it; store it in Vault and write a vault:<path>#<field> reference instead (the server imports a literal into Vault at load, with a warning)"})
	}
	for _, u := range []struct{ key, url string }{
		{"authenticationUrl", p.AuthURL}, {"tokenUrl", p.TokenURL}, {"profileUrl", p.ProfileURL}, {"revocationUrl", p.RevocationURL},
	} {
		if len(u.url) >= len("http://") && strings.EqualFold(u.url[:len("http://")], "http://") {
			out = append(out, Finding{File: file, Field: meta + u.key,
				Message: "plain http: codes, tokens and the client secret would travel unencrypted (accepted for a loopback host, for tests)"})
		}
	}
	return out
}
