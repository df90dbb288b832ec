package provider

import (
	"errors"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	refused := errors.New("not under widgetgate/providers/")
	checkRef := func(path string) error {
		if !strings.HasPrefix(path, "widgetgate/providers/") {
			return refused
		}
		return nil
	}
	withName := func(name string) []byte {
		return edit(func(_, info, _ map[string]any) { info["name"] = name })
	}
	cases := []struct {
		name    string
		bundles []Bundle
		wantErr string // "" = loads
		has     string
	}{
		{"built-ins only", nil, "", "google"},
		{"one bundled passport", []Bundle{{"a/passport/x.json", []byte(seedConnector)}}, "", "custom:my-api-connector"},
		{"the same passport in two packages", []Bundle{{"a/p.json", []byte(seedConnector)}, {"b/p.json", []byte(seedConnector)}}, "", "custom:my-api-connector"},
		{"two different passports of one name", []Bundle{{"a/p.json", []byte(seedConnector)}, {"b/p.json", setMeta("clientId", "other")}},
			`b/p.json: provider "custom:my-api-connector" is also defined by a/p.json`, ""},
		{"a bad passport file", []Bundle{{"a/p.json", []byte(`{`)}}, "a/p.json", ""},
		{"a reference under providers/", []Bundle{{"a/p.json", setMeta("clientSecret", "vault:widgetgate/providers/custom:my-api-connector#client_secret")}}, "", "custom:my-api-connector"},
		{"a reference elsewhere", []Bundle{{"a/p.json", setMeta("clientSecret", "vault:widgetgate/context-keys#current")}},
			"a/p.json: customApplicationInfo.metadata.clientSecret: not under", ""},
		{"another name", []Bundle{{"a/p.json", withName("other-connector")}}, "", "custom:other-connector"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := Registry(tc.bundles, checkRef)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := reg[tc.has]; !ok {
				t.Errorf("registry lacks %q", tc.has)
			}
			if _, ok := reg["microsoft"]; !ok {
				t.Error("built-in providers missing")
			}
		})
	}
}
