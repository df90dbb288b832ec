package schema

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// BundledPassport is the custom passport a widget package ships in
// passport/*.json. This package checks only what ties it to the schema (it
// exists, parses, and its name matches "custom:<name>" providers); the
// passport package validates the OAuth details.
type BundledPassport struct {
	// Path is the file inside the package, e.g. "passport/my-api-connector.json".
	Path string
	// Name is customApplicationInfo.name; the provider id is "custom:"+Name.
	Name string
	// Raw is the file's content.
	Raw []byte
}

// Provider returns the passportProvider value that refers to this passport.
func (b *BundledPassport) Provider() string { return "custom:" + b.Name }

func loadBundled(fsys fs.FS, filePath string) (*BundledPassport, error) {
	clean := path.Clean(filePath)
	if filePath == "" || !fs.ValidPath(clean) || strings.Contains(filePath, `\`) || !strings.HasSuffix(clean, ".json") {
		return nil, fmt.Errorf("%q must be a relative path to a .json file inside the package", filePath)
	}
	raw, err := readFile(fsys, clean)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", filePath, err)
	}
	var doc struct {
		CustomApplicationInfo struct {
			Name string `json:"name"`
		} `json:"customApplicationInfo"`
	}
	if err := decodeStrict(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", clean, err)
	}
	if doc.CustomApplicationInfo.Name == "" {
		return nil, fmt.Errorf("%s: customApplicationInfo.name: required", clean)
	}
	return &BundledPassport{Path: clean, Name: doc.CustomApplicationInfo.Name, Raw: raw}, nil
}

// checkCustomProviders makes sure every "custom:<name>" provider the schema
// asks for is the passport the package bundles: that is how the Appspace
// widget developer guide ties them, and a mismatch would leave the widget
// with no passport to select.
func (w *Widget) checkCustomProviders() error {
	for _, a := range w.Auths {
		name, custom := strings.CutPrefix(a.Provider, "custom:")
		if !custom {
			continue
		}
		if w.Bundled == nil {
			// Custom passports may also be created by an administrator; only
			// a bundled one can be checked here.
			continue
		}
		if name != w.Bundled.Name {
			return fmt.Errorf("authentications (%s).metadata.passportProvider: %q does not match the bundled passport %s (customApplicationInfo.name %q)",
				a.Key, a.Provider, w.Bundled.Path, w.Bundled.Name)
		}
	}
	return nil
}
