package standin

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// Microsoft Graph's calendarView, with Graph's error envelope and its
// correlation headers.

func (p *Provider) graphCalendarView(w http.ResponseWriter, r *http.Request) {
	ok, present := p.authorized(r)
	if !ok {
		msg := graphBadToken
		if !present {
			msg = graphEmptyToken
		}
		w.Header().Set("WWW-Authenticate", graphWWWAuthenticate)
		writeGraphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return
	}
	// Graph matches query option names case-insensitively, and its own
	// error message spells them StartDateTime/EndDateTime.
	q := r.URL.Query()
	if queryFold(q, "startDateTime") == "" || queryFold(q, "endDateTime") == "" {
		writeGraphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", graphNoWindow)
		return
	}
	// The window is required but deliberately not used to filter: the
	// fixtures have fixed dates and callers should not need to know them.
	setGraphRequestIDs(w, r)
	writeJSON(w, http.StatusOK, graphJSON, graphEventList{Context: graphContext, Value: graphEvents})
}

// queryFold returns the first value of the query parameter whose name
// matches name case-insensitively.
func queryFold(q map[string][]string, name string) string {
	for k, vs := range q {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// setGraphRequestIDs sets Graph's correlation headers and returns the ids.
// Graph echoes the caller's client-request-id, or reuses its own request id
// when the caller sent none.
func setGraphRequestIDs(w http.ResponseWriter, r *http.Request) (requestID, clientRequestID string) {
	requestID = newUUID()
	clientRequestID = r.Header.Get("client-request-id")
	if clientRequestID == "" {
		clientRequestID = requestID
	}
	w.Header().Set("request-id", requestID)
	w.Header().Set("client-request-id", clientRequestID)
	return requestID, clientRequestID
}

// writeGraphError writes Graph's error envelope, including the innerError
// block every real Graph error carries.
func writeGraphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	requestID, clientRequestID := setGraphRequestIDs(w, r)
	type inner struct {
		Date            string `json:"date"`
		RequestID       string `json:"request-id"`
		ClientRequestID string `json:"client-request-id"`
	}
	type body struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError inner  `json:"innerError"`
	}
	writeJSON(w, status, graphErrorJSON, map[string]body{"error": {
		Code:    code,
		Message: message,
		InnerError: inner{
			Date:            time.Now().UTC().Format("2006-01-02T15:04:05"),
			RequestID:       requestID,
			ClientRequestID: clientRequestID,
		},
	}})
}

// newUUID returns a random RFC 9562 version 4 UUID, the form Graph uses for
// request ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
