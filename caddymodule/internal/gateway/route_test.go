package gateway

import "testing"

func TestParseCallPath(t *testing.T) {
	tests := []struct {
		path, widget, api string
		raw, ok           bool
	}{
		{"/sidecar/widgets/calendar/apis/getEvents", "calendar", "getEvents", false, true},
		{"/widgets/calendar/apis/getEvents/raw", "calendar", "getEvents", true, true},
		{"/a/b/widgets/w/apis/x/", "w", "x", false, true},
		{"/sidecar/widgets/w/apis/raw", "w", "raw", false, true},
		{"/sidecar/widgets//apis/x", "", "", false, false},
		{"/sidecar/widgets/w/apis", "", "", false, false},
		{"/sidecar/widgets/w/apis/x/extra", "", "", false, false},
		{"/sidecar/", "", "", false, false},
	}
	for _, tc := range tests {
		w, a, raw, ok := ParseCallPath(tc.path)
		if ok != tc.ok || ok && (w != tc.widget || a != tc.api || raw != tc.raw) {
			t.Errorf("ParseCallPath(%q) = %q %q %v %v", tc.path, w, a, raw, ok)
		}
	}
}
