package browserkit

import (
	"net/http"
	"slices"
)

// CORS applies the CORS policy for widget hosts on other origins, and
// answers preflights. It reports whether the request is fully answered.
func (s *Server) CORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(s.AllowedOrigins, origin) {
		return false
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Add("Vary", "Origin")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hdr.Set("Access-Control-Allow-Methods", "GET, POST")
		hdr.Set("Access-Control-Allow-Headers", s.AllowHeaders)
		hdr.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	// The host kit reads where an answer came from, and when to retry.
	hdr.Set("Access-Control-Expose-Headers", "Widgetgate-Cache, Age, Retry-After")
	return false
}
