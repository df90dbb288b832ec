package vaultstore

import (
	"reflect"
	"strings"
	"testing"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// StaticBindings takes valid ids (and "*" for every instance) and refuses
// an instance or passport id that could address another Vault path.
func TestStaticBindings(t *testing.T) {
	got, err := StaticBindings(map[string]map[string]string{"*": {"calAuth": "pp-google"}, "lobby": {"saasAuth": "pp-saas"}})
	if want := map[string]passport.Bindings{"*": {"calAuth": "pp-google"}, "lobby": {"saasAuth": "pp-saas"}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("StaticBindings = %v, %v; want %v", got, err, want)
	}
	for _, tc := range []struct {
		in   map[string]map[string]string
		want string
	}{
		{map[string]map[string]string{"../x": {"k": "pp"}}, `static_bindings: instance id "../x" is not valid`},
		{map[string]map[string]string{"lobby": {"k": "a/b"}}, `static_bindings[lobby][k]: passport id "a/b" is not valid`},
	} {
		if _, err := StaticBindings(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("StaticBindings(%v) = %v, want %q", tc.in, err, tc.want)
		}
	}
}
