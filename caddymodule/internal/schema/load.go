package schema

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Lookup errors, matched with errors.Is by the handler.
var (
	ErrUnknownWidget = errors.New("unknown widget")
	ErrUnknownAPI    = errors.New("unknown api")
)

// maxJSONFile bounds schema.json and passport JSON. Real ones are a few KiB;
// the bound keeps a hostile upload from exhausting memory at load.
const maxJSONFile = 1 << 20

// Zip bounds: a widget is a page, a schema and a few passport files.
const (
	maxZipEntries = 1000
	maxZipBytes   = 64 << 20
)

// widgetID is what a folder or zip name must look like to become a widgetId.
var widgetID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Catalog holds every loaded widget. It is immutable once built, so lookups
// need no locking; a config reload builds a new one.
type Catalog struct {
	widgets map[string]*Widget
}

// Lookup returns the API apiName of widget widgetID.
func (c *Catalog) Lookup(widgetID, apiName string) (*API, error) {
	w, ok := c.widgets[widgetID]
	if !ok {
		return nil, ErrUnknownWidget
	}
	api, ok := w.APIs[apiName]
	if !ok {
		return nil, ErrUnknownAPI
	}
	return api, nil
}

// Widget returns a loaded widget by id.
func (c *Catalog) Widget(id string) (*Widget, bool) {
	w, ok := c.widgets[id]
	return w, ok
}

// Len returns how many widgets are loaded.
func (c *Catalog) Len() int { return len(c.widgets) }

// IDs returns the loaded widget ids, sorted.
func (c *Catalog) IDs() []string {
	ids := make([]string, 0, len(c.widgets))
	for id := range c.widgets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// LoadDir loads every widget package in dir: each sub-folder and each .zip
// is one widget whose id is the folder name or the zip name without ".zip".
// Other files are ignored. All bad packages are reported, not only the
// first, each error naming the file and the field.
func LoadDir(dir string, opt Options) (*Catalog, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading widgets directory: %w", err)
	}
	c := &Catalog{widgets: make(map[string]*Widget, len(entries))}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		full := filepath.Join(dir, name)
		var (
			id  string
			w   *Widget
			err error
		)
		if strings.HasPrefix(name, ".") {
			continue // editor and VCS leftovers
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			// A symlink could point anywhere on the host; packages are copied in, not linked.
			errs = append(errs, fmt.Errorf("%s: symbolic links are not loaded as widget packages", full))
			continue
		case e.IsDir():
			id = name
		case strings.HasSuffix(name, ".zip") && e.Type().IsRegular():
			id = strings.TrimSuffix(name, ".zip")
		default:
			continue
		}
		if !widgetID.MatchString(id) {
			errs = append(errs, fmt.Errorf("%s: widget id %q must match %s", full, id, widgetID))
			continue
		}
		if prev, dup := c.widgets[id]; dup {
			errs = append(errs, fmt.Errorf("%s: widget id %q is also used by %s", full, id, prev.Source))
			continue
		}
		if e.IsDir() {
			w, err = LoadFS(id, full, dirFS(full), opt)
		} else {
			w, err = loadZip(id, full, opt)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.widgets[id] = w
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func loadZip(id, file string, opt Options) (*Widget, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable zip: %w", file, err)
	}
	defer zr.Close()
	if len(zr.File) > maxZipEntries {
		return nil, fmt.Errorf("%s: more than %d entries", file, maxZipEntries)
	}
	var total uint64
	for _, f := range zr.File {
		// Sizes in the zip's directory bound what reading can inflate to
		// (archive/zip refuses entries that decompress past them).
		total += f.UncompressedSize64
		if total > maxZipBytes {
			return nil, fmt.Errorf("%s: uncompresses to more than %d bytes", file, maxZipBytes)
		}
		// We never extract, but a package with such names is malformed or
		// hostile, and refusing it says so early.
		if !fs.ValidPath(strings.TrimSuffix(f.Name, "/")) || strings.Contains(f.Name, `\`) {
			return nil, fmt.Errorf("%s: entry %q has an absolute or escaping path", file, f.Name)
		}
		if f.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s: entry %q is a symbolic link", file, f.Name)
		}
	}
	return LoadFS(id, file, zr, opt)
}

// dirFS is os.DirFS that refuses to follow symbolic links out of the package.
type dirFS string

func (d dirFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	full := filepath.Join(string(d), filepath.FromSlash(name))
	if fi, err := os.Lstat(full); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a symbolic link")}
	}
	return os.Open(full)
}

// LoadFS loads one widget package from fsys (a folder or an opened zip).
// source names the package in error messages.
func LoadFS(id, source string, fsys fs.FS, opt Options) (*Widget, error) {
	w := &Widget{ID: id, Source: source}
	var f File
	schemaPath := path.Join(source, "schema.json")
	if err := readJSON(fsys, "schema.json", &f); err != nil {
		return nil, fmt.Errorf("%s: %w", schemaPath, err)
	}
	if err := compile(w, &f, opt); err != nil {
		return nil, fmt.Errorf("%s: %w", schemaPath, err)
	}
	if f.Passport != nil {
		b, err := loadBundled(fsys, f.Passport.FilePath)
		if err != nil {
			return nil, fmt.Errorf("%s: passport.filePath: %w", schemaPath, err)
		}
		w.Bundled = b
	}
	if err := w.checkCustomProviders(); err != nil {
		return nil, fmt.Errorf("%s: %w", schemaPath, err)
	}
	if html, err := readFile(fsys, "widget.html"); err == nil {
		w.HTML = html
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path.Join(source, "widget.html"), err)
	}
	return w, nil
}

// readJSON decodes the JSON file name of fsys into v, refusing oversized
// files and trailing data after the document.
func readJSON(fsys fs.FS, name string, v any) error {
	data, err := readFile(fsys, name)
	if err != nil {
		return err
	}
	return decodeStrict(data, v)
}

// readFile reads a package file of at most maxJSONFile bytes, without
// ever holding more than that in memory.
func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot open: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJSONFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if len(data) > maxJSONFile {
		return nil, fmt.Errorf("larger than %d bytes", maxJSONFile)
	}
	return data, nil
}

func decodeStrict(data []byte, v any) error {
	if err := checkStrictJSON(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("invalid JSON at byte %d: %w", se.Offset, err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON document")
	}
	return nil
}
