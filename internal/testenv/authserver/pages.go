package authserver

import (
	"html/template"
	"net/http"
)

// The HTML pages the browser sees: the consent screen and the error page.

// htmlHeaders sets the headers of the HTML pages: no caching, and no
// framing, since a consent page inside another site's frame is the
// classic clickjacking target.
func htmlHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", htmlContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
}

// errorPage renders the HTML error page of the browser-facing endpoints.
// The error code and description sit in elements with ids "error" and
// "error_description" so tests can find them.
func errorPage(w http.ResponseWriter, status int, code, description string) {
	htmlHeaders(w)
	w.WriteHeader(status)
	_ = errorTemplate.Execute(w, struct {
		Status            int
		Code, Description string
	}{status, code, description})
}

// consentData fills consentPage.
type consentData struct {
	App, ScopeText                               string
	Scopes                                       []string
	Action, Ticket, Field, Decision, Allow, Deny string
}

// consentPage is the consent screen. The form action is relative so the
// page keeps working when the server is mounted under a path prefix.
var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Authorize {{.App}}</title></head>
<body>
<h1 id="prompt">{{.App}} wants access to: {{.ScopeText}}</h1>
<ul id="scopes">{{range .Scopes}}
<li>{{.}}</li>{{end}}
</ul>
<form method="post" action="{{.Action}}">
<input type="hidden" name="{{.Field}}" value="{{.Ticket}}">
<button type="submit" id="allow" name="{{.Decision}}" value="{{.Allow}}">Allow</button>
<button type="submit" id="deny" name="{{.Decision}}" value="{{.Deny}}">Deny</button>
</form>
</body>
</html>
`))

var errorTemplate = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Error {{.Status}}: {{.Code}}</title></head>
<body>
<h1>Error {{.Status}}: <span id="error">{{.Code}}</span></h1>
<p id="error_description">{{.Description}}</p>
</body>
</html>
`))
