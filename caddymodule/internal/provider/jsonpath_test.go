package provider

import "testing"

func TestCheckJSONPath(t *testing.T) {
	valid := []string{
		"$", "$.email", "$.id", "$.display_name", "$.data.id",
		"$.emails[0]", "$.emails[0].value", "$.a[-1]", "$.data['display-name']", "$..id",
		"$.emails[?(@.primary==true)].value",
	}
	for _, s := range valid {
		if err := checkJSONPath(s); err != nil {
			t.Errorf("checkJSONPath(%q) = %v, want nil", s, err)
		}
	}
	invalid := []string{"", "email", "@.email", ".email", "$[", "$.a[", "$.a[0", "$.a['x]", "$.a[?(@.x ==)]"}
	for _, s := range invalid {
		if err := checkJSONPath(s); err == nil {
			t.Errorf("checkJSONPath(%q) = nil, want an error", s)
		}
	}
}
