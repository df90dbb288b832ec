package schema

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
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

// MaxZipBytes is the most a widget package ZIP may hold uncompressed; an
// upload larger than that is refused before it is read.
const MaxZipBytes = maxZipBytes

// widgetID is what a folder or zip name must look like to become a widgetId.
var widgetID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidWidgetID reports whether id may name a widget package.
func ValidWidgetID(id string) bool { return widgetID.MatchString(id) }

// NewCatalog makes a catalogue of widgets, keyed by their ids.
func NewCatalog(widgets map[string]*Widget) *Catalog {
	return &Catalog{widgets: maps.Clone(widgets)}
}

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
	entries, err := ScanDir(dir)
	if err != nil {
		return nil, err
	}
	c := &Catalog{widgets: make(map[string]*Widget, len(entries))}
	var errs []error
	for _, e := range entries {
		if e.Err != nil {
			errs = append(errs, e.Err)
			continue
		}
		in := InspectEntry(e, opt)
		if len(in.Errs) > 0 {
			errs = append(errs, in.Errs)
			continue
		}
		c.widgets[e.ID] = in.Widget
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Entry is one widget package as LoadDir finds it in a widgets directory.
type Entry struct {
	ID   string // the folder name, or the zip name without ".zip"
	Path string // the folder or the zip
	Zip  bool
	// Err, when set, is why the entry is not loaded: it is a symbolic
	// link, its name is not a widget id, or its id is taken.
	Err error
}

// ScanDir lists the widget packages of dir in name order, by LoadDir's
// rules: folders and regular .zip files, skipping names that start with
// "." and ignoring other files. An entry that cannot be loaded is listed
// with its Err set.
func ScanDir(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading widgets directory: %w", err)
	}
	var entries []Entry
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			continue // editor and VCS leftovers
		}
		if e, ok := EntryAt(filepath.Join(dir, de.Name())); ok {
			entries = append(entries, e)
		}
	}
	MarkDuplicates(entries)
	return entries, nil
}

// EntryAt says what file is as an entry of a widgets directory: a folder
// or a regular .zip file is a package (a symbolic link is one that fails);
// anything else, or a file that cannot be examined, is not (ok is false).
func EntryAt(file string) (e Entry, ok bool) {
	fi, err := os.Lstat(file)
	if err != nil {
		return Entry{}, false
	}
	name := fi.Name()
	if abs, err := filepath.Abs(file); err == nil {
		name = filepath.Base(abs) // "." names the folder it is
	}
	e = Entry{ID: name, Path: file}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		// A symlink could point anywhere on the host; packages are copied in, not linked.
		e.Err = &FieldError{File: file, Err: errors.New("symbolic links are not loaded as widget packages")}
		return e, true
	case fi.IsDir():
	case strings.HasSuffix(name, ".zip") && fi.Mode().IsRegular():
		e.ID, e.Zip = strings.TrimSuffix(name, ".zip"), true
	default:
		return Entry{}, false
	}
	if !widgetID.MatchString(e.ID) {
		e.Err = &FieldError{File: file, Err: fmt.Errorf("widget id %q must match %s", e.ID, widgetID)}
	}
	return e, true
}

// MarkDuplicates sets Err on every entry whose widget id an earlier
// loadable entry has (for example cal/ and cal.zip).
func MarkDuplicates(entries []Entry) {
	seen := map[string]string{}
	for i, e := range entries {
		if e.Err != nil {
			continue
		}
		if prev, dup := seen[e.ID]; dup {
			entries[i].Err = &FieldError{File: e.Path, Err: fmt.Errorf("widget id %q is also used by %s", e.ID, prev)}
			continue
		}
		seen[e.ID] = e.Path
	}
}

// Inspection is a widget package as read, with every problem found in it.
// LoadDir and LoadFS refuse a package with any problem; tools that report
// problems (widgetgate lint) look at the rest.
type Inspection struct {
	// Widget is the package compiled as far as its problems allow: an
	// authentication or an API with a problem is missing from it. Nil when
	// schema.json could not be read.
	Widget *Widget
	// Schema is schema.json as decoded; nil when it could not be.
	Schema *File
	// Errs is every problem found, each naming the file and the field.
	Errs Errors
}

// InspectEntry reads the package e names, a folder or a zip. e.Err is not
// looked at.
func InspectEntry(e Entry, opt Options) *Inspection {
	if !e.Zip {
		return Inspect(e.ID, e.Path, dirFS(e.Path), opt)
	}
	zr, err := zip.OpenReader(e.Path)
	if err != nil {
		return failed(e.Path, fmt.Errorf("not a readable zip: %w", err))
	}
	defer zr.Close()
	return inspectZip(e.ID, e.Path, &zr.Reader, opt)
}

// InspectZip reads a widget package from the bytes of its ZIP (an
// upload), with the bounds and rules of a ZIP in the widgets directory;
// source names it in problems. Nothing is extracted.
func InspectZip(id, source string, data []byte, opt Options) *Inspection {
	if len(data) > maxZipBytes {
		return failed(source, fmt.Errorf("larger than %d bytes", maxZipBytes))
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return failed(source, fmt.Errorf("not a readable zip: %w", err))
	}
	return inspectZip(id, source, zr, opt)
}

func inspectZip(id, source string, zr *zip.Reader, opt Options) *Inspection {
	if errs := checkZip(source, zr.File); len(errs) > 0 {
		return &Inspection{Errs: errs}
	}
	return Inspect(id, source, zr, opt)
}

func failed(file string, err error) *Inspection {
	return &Inspection{Errs: Errors{{File: file, Err: err}}}
}

// checkZip refuses a zip with too many entries, too many bytes, or an
// entry whose name is absolute, escaping, or a symbolic link.
func checkZip(file string, entries []*zip.File) Errors {
	if len(entries) > maxZipEntries {
		return Errors{{File: file, Err: fmt.Errorf("more than %d entries", maxZipEntries)}}
	}
	var errs Errors
	var total uint64
	for _, f := range entries {
		// Sizes in the zip's directory bound what reading can inflate to
		// (archive/zip refuses entries that decompress past them).
		total += f.UncompressedSize64
		if total > maxZipBytes {
			return append(errs, &FieldError{File: file, Err: fmt.Errorf("uncompresses to more than %d bytes", maxZipBytes)})
		}
		// We never extract, but a package with such names is malformed or
		// hostile, and refusing it says so early.
		switch {
		case !fs.ValidPath(strings.TrimSuffix(f.Name, "/")) || strings.Contains(f.Name, `\`):
			errs = append(errs, &FieldError{File: file, Err: fmt.Errorf("entry %q has an absolute or escaping path", f.Name)})
		case f.Mode()&fs.ModeSymlink != 0:
			errs = append(errs, &FieldError{File: file, Err: fmt.Errorf("entry %q is a symbolic link", f.Name)})
		}
	}
	return errs
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
// source names the package in error messages. A package with problems is
// refused with all of them, as Errors.
func LoadFS(id, source string, fsys fs.FS, opt Options) (*Widget, error) {
	in := Inspect(id, source, fsys, opt)
	if len(in.Errs) > 0 {
		return nil, in.Errs
	}
	return in.Widget, nil
}

// Inspect reads one widget package from fsys as LoadFS does, going on
// past problems to find every one.
func Inspect(id, source string, fsys fs.FS, opt Options) *Inspection {
	w := &Widget{ID: id, Source: source}
	var f File
	schemaPath := path.Join(source, "schema.json")
	c := &collector{}
	if err := readJSON(fsys, "schema.json", &f); err != nil {
		c.add(schemaPath, "", err)
		return &Inspection{Errs: c.errs}
	}
	in := &Inspection{Widget: w, Schema: &f}
	compile(w, &f, opt, schemaPath, c)
	if f.Passport != nil {
		b, ok := loadBundled(fsys, source, schemaPath, f.Passport.FilePath, c)
		// A passport whose file reads is kept even with a problem, for a
		// tool to check the rest of it; only a sound one ties providers.
		w.Bundled = b
		if ok {
			w.checkCustomProviders(&f, schemaPath, c)
		}
	}
	if html, err := readFile(fsys, "widget.html"); err == nil {
		w.HTML = html
	} else if !errors.Is(err, fs.ErrNotExist) {
		c.add(path.Join(source, "widget.html"), "", err)
	}
	in.Errs = c.errs
	return in
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
			return &FieldError{Field: te.Field, Err: fmt.Errorf("expected %s, got JSON %s", te.Type, te.Value)}
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON document")
	}
	return nil
}
