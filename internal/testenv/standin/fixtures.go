package standin

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"sync"
)

// This file holds the canned data and the provider-specific error bodies.
// The error bodies are kept as literal JSON (rather than built from maps)
// so that key order and wording match what the real services send byte for
// byte; clients that log or compare error bodies then see the real thing.

// Content types used by the real services. Google labels JSON with an
// upper-case charset; Graph sends OData parameters on success and plain
// application/json on errors.
const (
	googleJSON       = "application/json; charset=UTF-8"
	graphJSON        = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
	graphErrorJSON   = "application/json"
	plainJSON        = "application/json"
	textPlain        = "text/plain; charset=utf-8"
	octetStream      = "application/octet-stream"
	textBody         = "hello from the stand-in"
	missingCalendar  = "missing"
	defaultScope     = "https://www.googleapis.com/auth/calendar.readonly"
	googleMaxResults = 2500
)

// Google Calendar error bodies.
const (
	googleWWWAuthenticate = `Bearer realm="https://accounts.google.com/"`

	googleUnauthorizedBody = `{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}}`

	googleNotFoundBody = `{"error":{"code":404,"message":"Not Found","errors":[{"message":"Not Found","domain":"global","reason":"notFound"}]}}`
)

// Microsoft Graph constants. The WWW-Authenticate value is the one Graph
// really sends: it points at the Entra ID authorize endpoint and names the
// Graph resource's well-known application id.
const (
	graphWWWAuthenticate = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`
	graphContext         = "https://graph.microsoft.com/v1.0/$metadata#users('me')/calendarView"
	graphEmptyToken      = "Access token is empty."
	graphBadToken        = "Access token validation failure. Invalid audience."
	graphNoWindow        = "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime."
)

// Custom SaaS (RFC 6750 style) constants.
const (
	saasRealm             = "widgetgate-standin"
	saasUnauthorizedBody  = `{"error":"invalid_token","error_description":"The access token expired"}`
	saasErrorDescription  = "The access token expired"
	catchAllNotFoundBody  = `{"error":{"code":404,"message":"Not Found"}}`
	tokenInvalidGrantDesc = "Token has been expired or revoked."
)

// googleDateTime is the start/end object of a Google Calendar event.
type googleDateTime struct {
	DateTime string `json:"dateTime"`
}

// googleEvent is the subset of the Calendar "Event" resource the stand-in
// serves; field names and order follow the real API.
type googleEvent struct {
	Kind    string         `json:"kind"`
	ID      string         `json:"id"`
	Status  string         `json:"status"`
	Summary string         `json:"summary"`
	Start   googleDateTime `json:"start"`
	End     googleDateTime `json:"end"`
}

// googleEventList is the events.list response envelope.
type googleEventList struct {
	Kind     string        `json:"kind"`
	Summary  string        `json:"summary"`
	TimeZone string        `json:"timeZone"`
	Items    []googleEvent `json:"items"`
}

var googleEvents = []googleEvent{
	{
		Kind: "calendar#event", ID: "evt1", Status: "confirmed", Summary: "Team stand-up",
		Start: googleDateTime{"2026-11-23T09:00:00Z"}, End: googleDateTime{"2026-11-23T09:15:00Z"},
	},
	{
		Kind: "calendar#event", ID: "evt2", Status: "confirmed", Summary: "Design review",
		Start: googleDateTime{"2026-11-23T13:00:00Z"}, End: googleDateTime{"2026-11-23T14:00:00Z"},
	},
	{
		Kind: "calendar#event", ID: "evt3", Status: "tentative", Summary: "1:1 with Sam",
		Start: googleDateTime{"2026-11-24T15:30:00Z"}, End: googleDateTime{"2026-11-24T16:00:00Z"},
	},
}

// graphDateTime is Graph's dateTimeTimeZone type. Graph writes seven
// fractional digits and no offset; the zone is carried separately.
type graphDateTime struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// graphEvent is the subset of the Graph "event" resource the stand-in serves.
type graphEvent struct {
	ID      string        `json:"id"`
	Subject string        `json:"subject"`
	Start   graphDateTime `json:"start"`
	End     graphDateTime `json:"end"`
}

// graphEventList is the OData collection envelope.
type graphEventList struct {
	Context string       `json:"@odata.context"`
	Value   []graphEvent `json:"value"`
}

var graphEvents = []graphEvent{
	{
		ID: "AAMk1", Subject: "Planning",
		Start: graphDateTime{"2026-11-23T10:00:00.0000000", "UTC"},
		End:   graphDateTime{"2026-11-23T11:00:00.0000000", "UTC"},
	},
	{
		ID: "AAMk2", Subject: "Customer call",
		Start: graphDateTime{"2026-11-23T15:00:00.0000000", "UTC"},
		End:   graphDateTime{"2026-11-23T15:30:00.0000000", "UTC"},
	},
}

// saasItem is an element of the custom SaaS /v1/data collection.
type saasItem struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

var saasItems = []saasItem{{ID: 1, Name: "alpha"}, {ID: 2, Name: "beta"}}

// saasPost is an element of /v1/users/{id}/posts.
type saasPost struct {
	ID    int    `json:"id"`
	Title string `json:"title"`
}

var saasPosts = []saasPost{{ID: 101, Title: "Hello world"}, {ID: 102, Title: "Second post"}}

// pngImage returns a small, valid 4x4 PNG. It is generated once, lazily,
// with image/png so the bytes are guaranteed to decode.
var pngImage = sync.OnceValue(func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for y := range 4 {
		for x := range 4 {
			img.Set(x, y, color.RGBA{R: uint8(x * 64), G: uint8(y * 64), B: 0x80, A: 0xff})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		// Encoding an in-memory RGBA image cannot fail; a failure here
		// is a programming error.
		panic("standin: encoding fixture PNG: " + err.Error())
	}
	return buf.Bytes()
})
