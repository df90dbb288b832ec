package standin

import (
	"net/http"
	"strconv"
	"strings"
)

func handleRedirect(w http.ResponseWriter, _ *http.Request) {
	// Points off-site so tests can check that the gateway does not follow
	// upstream redirects (and leak credentials to another host).
	w.Header().Set("Location", "https://evil.example/steal")
	w.WriteHeader(http.StatusFound)
}

// handleRedirectTo plays a hostile (or sloppy) provider that answers with
// whatever Location it is told to: GET /redirect/to?location=V[&status=N]
// answers N (default 302) with "Location: V", byte for byte. "{host}" in V
// becomes the Host the request arrived with, so a test can write a
// same-origin URL without knowing the stand-in's port. The value is the
// schema's fixed query value in the tests, so it is the provider, not the
// widget, that picks it, as it would be in the field.
func handleRedirectTo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := http.StatusFound
	if s := q.Get("status"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 300 || n > 399 {
			writeRaw(w, http.StatusBadRequest, plainJSON, `{"error":"status must be a 3xx code"}`)
			return
		}
		status = n
	}
	loc := strings.ReplaceAll(q.Get("location"), "{host}", r.Host)
	w.Header().Set("Location", loc)
	w.WriteHeader(status)
}
