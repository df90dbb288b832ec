package standin

import (
	"fmt"
	"net/http"
	"strconv"
)

// Google Calendar's events.list, with Google's own 401, 404 and 400 bodies.

func (p *Provider) googleEvents(w http.ResponseWriter, r *http.Request) {
	if ok, _ := p.authorized(r); !ok {
		w.Header().Set("WWW-Authenticate", googleWWWAuthenticate)
		writeRaw(w, http.StatusUnauthorized, googleJSON, googleUnauthorizedBody)
		return
	}
	calendarID := r.PathValue("calendarId")
	if calendarID == missingCalendar {
		writeRaw(w, http.StatusNotFound, googleJSON, googleNotFoundBody)
		return
	}

	items := googleEvents
	if v := r.URL.Query().Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > googleMaxResults {
			writeGoogleInvalidParam(w, "maxResults", v)
			return
		}
		items = items[:min(n, len(items))]
	}
	writeJSON(w, http.StatusOK, googleJSON, googleEventList{
		Kind:     "calendar#events",
		Summary:  calendarID,
		TimeZone: "UTC",
		Items:    items,
	})
}

// writeGoogleInvalidParam writes Google's 400 for an out-of-range parameter.
func writeGoogleInvalidParam(w http.ResponseWriter, param, value string) {
	msg := fmt.Sprintf("Invalid value '%s'. Values must be within the range: [1, %d]", value, googleMaxResults)
	type detail struct {
		Message      string `json:"message"`
		Domain       string `json:"domain"`
		Reason       string `json:"reason"`
		Location     string `json:"location"`
		LocationType string `json:"locationType"`
	}
	type body struct {
		Code    int      `json:"code"`
		Message string   `json:"message"`
		Errors  []detail `json:"errors"`
		Status  string   `json:"status"`
	}
	writeJSON(w, http.StatusBadRequest, googleJSON, map[string]body{"error": {
		Code:    http.StatusBadRequest,
		Message: msg,
		Errors: []detail{{
			Message: msg, Domain: "global", Reason: "invalid",
			Location: param, LocationType: "parameter",
		}},
		Status: "INVALID_ARGUMENT",
	}})
}
