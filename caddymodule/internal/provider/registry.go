package provider

import (
	"fmt"
)

// Bundle is a custom passport file shipped in a widget package.
type Bundle struct {
	File string // where it came from, for errors: <package>/<path>
	Raw  []byte
}

// Registry builds the provider registry: the built-in providers plus the
// custom passports bundled in widget packages, each validated so that a
// bad passport file fails the config like a bad schema does. checkRef
// says whether a clientSecret Vault reference's path may be read on a
// package's behalf (vaultstore.Store.CheckProviderRef).
func Registry(bundles []Bundle, checkRef func(path string) error) (map[string]*Provider, error) {
	reg := map[string]*Provider{}
	for _, p := range Builtins() {
		reg[p.Name] = p
	}
	for _, b := range bundles {
		p, err := ParseCustom(b.File, b.Raw)
		if err != nil {
			return nil, err
		}
		if p.ClientSecretRef != "" {
			ref, _, _ := SplitSecretRef(p.ClientSecretRef) // well-formed: ParseCustom checked
			if err := checkRef(ref); err != nil {
				return nil, fmt.Errorf("%s: customApplicationInfo.metadata.clientSecret: %w", b.File, err)
			}
		}
		if prev, dup := reg[p.Name]; dup && prev.Source != b.File {
			if prev.Source == "built-in" || !sameCustom(prev, p) {
				return nil, fmt.Errorf("%s: provider %q is also defined by %s", b.File, p.Name, prev.Source)
			}
			continue // the same passport bundled in two packages
		}
		reg[p.Name] = p
	}
	return reg, nil
}

// sameCustom reports whether two bundled passports define the same
// connection (several widgets of one vendor may ship the same file).
func sameCustom(x, y *Provider) bool {
	return x.TokenURL == y.TokenURL && x.AuthURL == y.AuthURL && x.ClientID == y.ClientID &&
		x.ClientSecret == y.ClientSecret && x.ClientSecretRef == y.ClientSecretRef
}
