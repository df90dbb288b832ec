package provider

import "testing"

// The valid expressions were also checked to parse with
// github.com/ohler55/ojg/jp v1.28.5, the evaluator this subset targets.
func TestCheckJSONPath(t *testing.T) {
	valid := []string{
		"$", "$.email", "$.id", "$.display_name", "$.data.id", "$.é",
		"$.emails[0]", "$.emails[0].value", "$.a[-1]", "$.a[0,1]",
		"$.data['display-name']", `$.data["x y"]`, `$['a\'b']`, "$['a']['b']", "$.a['x','y']",
		"$..id", "$..*", "$..[0]", "$.*", "$[*]",
		"$.a[1:3]", "$.a[:2]", "$.a[1:]", "$.a[::2]",
		"$.emails[?(@.primary==true)].value", "$.a[?(@.x == 'a)b')]", "$.a[?(@.n >= -1.5 && (@.m < 3 || @.k != null))]",
	}
	for _, s := range valid {
		if err := checkJSONPath(s); err != nil {
			t.Errorf("checkJSONPath(%q) = %v, want nil", s, err)
		}
	}
	invalid := []string{
		"", "email", "@.email", ".email", "$.", "$..", "$email", "$.display-name", "$.a b",
		"$[", "$.a[", "$.a[0", "$.a[x]", "$.a['x]", `$.a['\x41']`, "$.a[1,]", "$.a[*,1]", "$.a[1:2:3:4]", "$.a[0x1]",
		"$.a[?]", "$.a[?()]", "$.a[?(@.x ==)]", "$.a[?(@.x == 1]", "$.a[?(@.x<-1)]", "$.a[?(x)]",
		"$.a||b", "$.a#b", "$.a[1234567890]",
	}
	for _, s := range invalid {
		if err := checkJSONPath(s); err == nil {
			t.Errorf("checkJSONPath(%q) = nil, want an error", s)
		}
	}
}
