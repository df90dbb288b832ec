// Package widgetdir keeps a widgets directory loaded while it changes: it
// reloads the packages that changed, validates them with the rules used at
// start, and swaps in a new catalogue atomically. A package that fails
// keeps its previous version serving (or stays absent if it is new), and
// its problems are kept for the operator page; it never takes another
// widget down.
package widgetdir

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
)

// Options says how packages are checked and who hears of a change.
type Options struct {
	// Schema holds the load rules, as at start.
	Schema schema.Options
	// Accept checks a catalogue holding a changed package beyond the
	// schema rules (the app builds its provider registry from the bundled
	// passports); an error refuses that package. Nil accepts all.
	Accept func(*schema.Catalog) error
	// Changed is called, under the reload lock, with each new catalogue
	// right after it is swapped in.
	Changed func(*schema.Catalog)
	// Logger gets a line per package loaded, refused or removed.
	Logger *slog.Logger
	// Now is the clock of Problem.Since; nil means time.Now.
	Now func() time.Time
}

// Problem is why the newest version of a package on disk is not serving.
type Problem struct {
	Widget string `json:"widget"`
	// Errors is every problem found, "file: field: message".
	Errors []string `json:"errors"`
	// Serving says the previous version of the package still serves.
	Serving bool      `json:"serving"`
	Since   time.Time `json:"since"`
}

// Dir is a widgets directory, loaded. It serves lookups from the newest
// catalogue; a call that looked its API up keeps that version to its end.
type Dir struct {
	path string
	opt  Options

	mu  sync.Mutex // one reload (or upload, or delete) at a time
	cur atomic.Pointer[snapshot]
}

// snapshot is one catalogue with what it was loaded from.
type snapshot struct {
	catalog *schema.Catalog
	stamps  map[string]stamp // of the version serving, per widget id
	// failed is the refused newest version of a package, per widget id.
	failed map[string]failure
}

type failure struct {
	stamp   stamp
	problem Problem
}

// Open loads every package of the directory at path, refusing it with
// every problem of every package, as at start: a config with a broken
// package does not load.
func Open(path string, opt Options) (*Dir, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	entries, err := schema.ScanDir(path)
	if err != nil {
		return nil, err
	}
	widgets := map[string]*schema.Widget{}
	stamps := map[string]stamp{}
	var errs []error
	for _, e := range entries {
		if e.Err != nil {
			errs = append(errs, e.Err)
			continue
		}
		st, err := stampOf(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		in := schema.InspectEntry(e, opt.Schema)
		if len(in.Errs) > 0 {
			errs = append(errs, in.Errs)
			continue
		}
		widgets[e.ID], stamps[e.ID] = in.Widget, st
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cat := schema.NewCatalog(widgets)
	if opt.Accept != nil {
		if err := opt.Accept(cat); err != nil {
			return nil, err
		}
	}
	d := &Dir{path: path, opt: opt}
	d.cur.Store(&snapshot{catalog: cat, stamps: stamps, failed: map[string]failure{}})
	return d, nil
}

// Path returns the directory.
func (d *Dir) Path() string { return d.path }

// Catalog returns the catalogue serving now.
func (d *Dir) Catalog() *schema.Catalog { return d.cur.Load().catalog }

// Lookup finds an API in the catalogue serving now.
func (d *Dir) Lookup(widgetID, apiName string) (*schema.API, error) {
	return d.Catalog().Lookup(widgetID, apiName)
}

// Widget finds a widget in the catalogue serving now.
func (d *Dir) Widget(id string) (*schema.Widget, bool) { return d.Catalog().Widget(id) }

// IDs lists the widgets serving now, sorted.
func (d *Dir) IDs() []string { return d.Catalog().IDs() }

// Len is how many widgets serve now.
func (d *Dir) Len() int { return d.Catalog().Len() }

// Problems lists the packages whose newest version on disk is refused,
// by widget id.
func (d *Dir) Problems() []Problem {
	s := d.cur.Load()
	out := make([]Problem, 0, len(s.failed))
	for _, id := range slices.Sorted(maps.Keys(s.failed)) {
		out = append(out, s.failed[id].problem)
	}
	return out
}

// Reload reads the directory again and swaps in what changed: a package
// whose files changed is loaded and checked; a failing one keeps its
// previous version; a package gone from the directory is removed. If the
// directory cannot be read at all, everything keeps serving.
func (d *Dir) Reload() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reloadLocked()
}

func (d *Dir) reloadLocked() {
	log := d.opt.Logger
	entries, err := schema.ScanDir(d.path)
	if err != nil {
		log.Error("widgets directory unreadable; the loaded widgets keep serving", "dir", d.path, "error", err)
		return
	}
	prev := d.cur.Load()
	next := &snapshot{stamps: map[string]stamp{}, failed: map[string]failure{}}
	widgets := map[string]*schema.Widget{}
	// keep serves the version that served before, if there was one.
	keep := func(id string) bool {
		w, ok := prev.catalog.Widget(id)
		if ok {
			widgets[id], next.stamps[id] = w, prev.stamps[id]
		}
		return ok
	}
	var changed []string // ids whose new version is candidate, checked by Accept below
	candidates := map[string]*schema.Widget{}
	for _, e := range entries {
		st, serr := stampOf(e)
		if e.Err == nil && serr == nil && st == prev.stamps[e.ID] {
			if keep(e.ID) {
				continue // unchanged
			}
		}
		if f, ok := prev.failed[e.ID]; ok && serr == nil && f.stamp == st {
			next.failed[e.ID] = f // still the same broken version: said already
			keep(e.ID)
			continue
		}
		in := &schema.Inspection{}
		switch {
		case e.Err != nil:
			in.Errs = fieldErrors(e.Err)
		case serr != nil:
			in.Errs = fieldErrors(serr)
		default:
			in = schema.InspectEntry(e, d.opt.Schema)
		}
		if len(in.Errs) > 0 {
			d.refuse(next, e.ID, st, in.Errs, keep(e.ID))
			continue
		}
		keep(e.ID)
		changed = append(changed, e.ID)
		candidates[e.ID] = in.Widget
		next.stamps[e.ID] = st // set below to the old one again if refused
	}
	var removed []string
	for _, id := range prev.catalog.IDs() {
		if !slices.ContainsFunc(entries, func(e schema.Entry) bool { return e.ID == id }) {
			removed = append(removed, id)
		}
	}
	// Candidates are tried one by one, so that the one Accept refuses is
	// known (two packages bundling conflicting passports: the first in
	// name order wins).
	for _, id := range changed {
		old, had := widgets[id]
		widgets[id] = candidates[id]
		if d.opt.Accept != nil {
			if err := d.opt.Accept(schema.NewCatalog(widgets)); err != nil {
				refused := next.stamps[id]
				if had {
					widgets[id], next.stamps[id] = old, prev.stamps[id]
				} else {
					delete(widgets, id)
					delete(next.stamps, id)
				}
				d.refuse(next, id, refused, fieldErrors(err), had)
				continue
			}
		}
		verb := "widget package added"
		if had {
			verb = "widget package reloaded"
		}
		log.Info(verb, "widget", id, "source", candidates[id].Source)
	}
	for _, id := range removed {
		log.Info("widget package removed", "widget", id)
	}
	if len(changed) == 0 && len(removed) == 0 && maps.EqualFunc(prev.failed, next.failed, func(x, y failure) bool { return x.stamp == y.stamp }) {
		return // nothing to swap
	}
	next.catalog = schema.NewCatalog(widgets)
	d.cur.Store(next)
	if d.opt.Changed != nil {
		d.opt.Changed(next.catalog)
	}
}

// refuse records that the version st of package id is not loaded.
func (d *Dir) refuse(next *snapshot, id string, st stamp, errs schema.Errors, serving bool) {
	p := Problem{Widget: id, Serving: serving, Since: d.opt.Now().UTC()}
	for _, e := range errs {
		p.Errors = append(p.Errors, e.Error())
	}
	next.failed[id] = failure{stamp: st, problem: p}
	msg := "widget package refused; it stays absent"
	if serving {
		msg = "widget package refused; its previous version keeps serving"
	}
	d.opt.Logger.Error(msg, "widget", id, "errors", p.Errors)
}

// fieldErrors makes a problem list of err.
func fieldErrors(err error) schema.Errors {
	var es schema.Errors
	if errors.As(err, &es) {
		return es
	}
	var fe *schema.FieldError
	if errors.As(err, &fe) {
		return schema.Errors{fe}
	}
	return schema.Errors{{Err: err}}
}

// String names the directory, for logs.
func (d *Dir) String() string { return fmt.Sprintf("widgets directory %s", d.path) }
