package schema

import (
	"errors"
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

// loadBundled reads the passport file schema.json's passport.filePath
// names and records its problems in c: a bad path or a missing file
// against schemaPath's passport.filePath, the rest against the file. The
// passport is returned whenever the file decodes, and ok says whether it
// has no problem.
func loadBundled(fsys fs.FS, source, schemaPath, filePath string, c *collector) (b *BundledPassport, ok bool) {
	clean := path.Clean(filePath)
	if filePath == "" || !fs.ValidPath(clean) || strings.Contains(filePath, `\`) || !strings.HasSuffix(clean, ".json") {
		c.add(schemaPath, "passport.filePath", fmt.Errorf("%q must be a relative path to a .json file inside the package", filePath))
		return nil, false
	}
	raw, err := readFile(fsys, clean)
	if err != nil {
		c.add(schemaPath, "passport.filePath", fmt.Errorf("%q: %w", filePath, err))
		return nil, false
	}
	file := path.Join(source, clean)
	var doc struct {
		CustomApplicationInfo struct {
			Name string `json:"name"`
		} `json:"customApplicationInfo"`
	}
	if err := decodeStrict(raw, &doc); err != nil {
		c.add(file, "", err)
		return nil, false
	}
	b = &BundledPassport{Path: clean, Name: doc.CustomApplicationInfo.Name, Raw: raw}
	if b.Name == "" {
		c.add(file, "customApplicationInfo.name", errors.New("required"))
		return b, false
	}
	return b, true
}

// checkCustomProviders makes sure every "custom:<name>" provider the schema
// asks for is the passport the package bundles: that is how the Appspace
// widget developer guide ties them, and a mismatch would leave the widget
// with no passport to select.
func (w *Widget) checkCustomProviders(f *File, schemaPath string, c *collector) {
	if w.Bundled == nil {
		// Custom passports may also be created by an administrator; only
		// a bundled one can be checked here.
		return
	}
	for i, a := range f.Authentications {
		name, custom := strings.CutPrefix(a.Metadata.PassportProvider, "custom:")
		if custom && name != w.Bundled.Name {
			c.add(schemaPath, fmt.Sprintf("authentications[%d].metadata.passportProvider", i),
				fmt.Errorf("%q does not match the bundled passport %s (customApplicationInfo.name %q)",
					a.Metadata.PassportProvider, w.Bundled.Path, w.Bundled.Name))
		}
	}
}
