package gateway

import "strings"

// ParseCallPath matches the tail of the route: …/widgets/{w}/apis/{a}[/raw].
// Matching the tail lets operators mount the handler under any prefix
// without stripping it. Ids are matched escaped, so an encoded '/' never
// splits or joins segments.
func ParseCallPath(p string) (widgetID, apiName string, raw bool, ok bool) {
	seg := strings.Split(strings.TrimSuffix(p, "/"), "/")
	if n := len(seg); n >= 5 && seg[n-1] == "raw" && seg[n-5] == "widgets" && seg[n-3] == "apis" {
		return seg[n-4], seg[n-2], true, seg[n-4] != "" && seg[n-2] != ""
	}
	if n := len(seg); n >= 4 && seg[n-4] == "widgets" && seg[n-2] == "apis" {
		return seg[n-3], seg[n-1], false, seg[n-3] != "" && seg[n-1] != ""
	}
	return "", "", false, false
}
