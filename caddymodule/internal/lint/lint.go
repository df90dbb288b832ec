// Package lint checks widget packages for their developers before they are
// handed over (widgetgate lint). It applies the rules the server applies
// at load, by calling them: package schema for the package and its
// schema.json, package provider for a bundled passport. Unlike the server
// it reports every problem, not only the first, and adds warnings about
// what loads but is probably a mistake. It needs no Vault and no
// configuration.
package lint

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
)

// Finding is one error or warning: the file, the field in it (empty for
// the file as a whole) and what is wrong.
type Finding struct {
	File    string `json:"file"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// String returns "<file>: <field>: <message>", leaving out what is empty.
func (f Finding) String() string {
	var parts []string
	for _, s := range []string{f.File, f.Field, f.Message} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// Report is what lint found in one package. Errors make the server refuse
// the package; warnings do not.
type Report struct {
	Path     string    `json:"path"`   // the folder or zip, as given
	Widget   string    `json:"widget"` // the widget id the server would give it
	Errors   []Finding `json:"errors"`
	Warnings []Finding `json:"warnings"`
}

// UsageError is a path lint cannot check: it does not exist, or it is
// neither a folder nor a .zip.
type UsageError struct {
	Path string
	Err  error
}

func (e *UsageError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// options are the server's load options as lint uses them: what only an
// operator can allow (plain http, IP literal hosts) is accepted here and
// warned about, since lint does not know the configuration.
var options = schema.Options{AllowHTTP: true, AllowIPHost: func(string) bool { return true }}

// Lint checks the packages paths name, in order. A path is a package (a
// folder with schema.json, widget.html or passport/, or a .zip) or else a
// folder of packages, a widgets directory, whose packages are all
// checked. All the packages of one run are checked as if served from one
// widgets directory: two with one widget id, or two bundling different
// passports under one name, are errors, as the server refuses them.
func Lint(paths []string) ([]Report, error) {
	var (
		reports []Report
		entries []schema.Entry
		at      []int // entries[i] is reported in reports[at[i]]
	)
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, &UsageError{Path: p, Err: errors.Unwrap(err)}
		}
		if fi.IsDir() && !isPackage(p) {
			es, err := schema.ScanDir(p)
			if err == nil && len(es) == 0 {
				err = errors.New("holds no widget package (a folder with schema.json, or a .zip)")
			}
			if err != nil {
				reports = append(reports, newReport(p, "", Finding{File: p, Message: err.Error()}))
				continue
			}
			for _, e := range es {
				entries, at = append(entries, e), append(at, len(reports))
				reports = append(reports, newReport(e.Path, e.ID))
			}
			continue
		}
		e, ok := schema.EntryAt(p)
		if !ok {
			return nil, &UsageError{Path: p, Err: errors.New("not a widget package: a package is a folder or a .zip file")}
		}
		entries, at = append(entries, e), append(at, len(reports))
		reports = append(reports, newReport(e.Path, e.ID))
	}
	schema.MarkDuplicates(entries)

	var bundles []bundle
	for i, e := range entries {
		r := &reports[at[i]]
		if e.Err != nil {
			r.Errors = append(r.Errors, findings(e.Err)...)
			continue
		}
		if b, ok := checkPackage(e, r); ok {
			bundles = append(bundles, b)
		}
	}
	checkBundles(bundles)
	return reports, nil
}

func newReport(path, widget string, errs ...Finding) Report {
	return Report{Path: path, Widget: widget, Errors: append([]Finding{}, errs...), Warnings: []Finding{}}
}

// isPackage tells a package folder from a folder of packages.
func isPackage(dir string) bool {
	for _, name := range []string{"schema.json", "widget.html", "passport"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// bundle is a sound bundled passport, for the checks across packages.
type bundle struct {
	provider.Bundle
	report *Report
}

// checkPackage checks one package into r and returns its bundled
// passport when that parses, even if the rest of the package has
// problems: once they are fixed, it must still not clash with another.
func checkPackage(e schema.Entry, r *Report) (bundle, bool) {
	in := schema.InspectEntry(e, options)
	r.Errors = append(r.Errors, findings(in.Errs)...)
	if in.Widget == nil {
		return bundle{}, false
	}
	schemaPath := path.Join(in.Widget.Source, "schema.json")
	r.Warnings = append(r.Warnings, schemaWarnings(schemaPath, in.Schema, in.Widget)...)
	b := in.Widget.Bundled
	if b == nil {
		return bundle{}, false
	}
	// Named as the server names it (caddymodule's loadProviders).
	file := path.Join(in.Widget.Source, b.Path)
	p, err := provider.ParseCustom(file, b.Raw)
	if err != nil {
		for _, f := range findings(err) {
			// The schema package checks customApplicationInfo.name too.
			if !slices.ContainsFunc(r.Errors, func(g Finding) bool { return g.File == f.File && g.Field == f.Field }) {
				r.Errors = append(r.Errors, f)
			}
		}
		return bundle{}, false
	}
	r.Warnings = append(r.Warnings, passportWarnings(file, p)...)
	return bundle{Bundle: provider.Bundle{File: file, Raw: b.Raw}, report: r}, true
}

// checkBundles applies the server's rules across packages (provider.Registry):
// a passport name is defined once, or by identical files. Each bundle is
// checked against those before it; Vault references are not checked, as
// which paths are readable depends on the operator's Vault policy.
func checkBundles(bundles []bundle) {
	var accepted []provider.Bundle
	for _, b := range bundles {
		_, err := provider.Registry(append(slices.Clip(accepted), b.Bundle), func(string) error { return nil })
		if err != nil {
			b.report.Errors = append(b.report.Errors, Finding{File: b.File, Field: "customApplicationInfo.name",
				Message: strings.TrimPrefix(err.Error(), b.File+": ")})
			continue
		}
		accepted = append(accepted, b.Bundle)
	}
}

// findings flattens err (schema.Errors, schema or provider field errors,
// or errors joined) into findings.
func findings(err error) []Finding {
	switch e := err.(type) {
	case nil:
		return nil
	case *schema.FieldError:
		msg := ""
		if e.Err != nil {
			msg = e.Err.Error()
		}
		return []Finding{{File: e.File, Field: e.Field, Message: msg}}
	case *provider.FieldError:
		msg := e.Msg
		if e.Err != nil {
			msg += ": " + e.Err.Error()
		}
		return []Finding{{File: e.File, Field: e.Field, Message: msg}}
	case interface{ Unwrap() []error }:
		var out []Finding
		for _, sub := range e.Unwrap() {
			out = append(out, findings(sub)...)
		}
		return out
	}
	return []Finding{{Message: err.Error()}}
}
