package widgetdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
)

// Errors of Put and Delete, matched with errors.Is.
var (
	// ErrInvalidID: the id cannot name a widget package.
	ErrInvalidID = errors.New("not a valid widget id")
	// ErrNotFound: no package has that id.
	ErrNotFound = errors.New("no such widget package")
	// ErrFolder: the package is a folder, which an upload does not replace
	// (its files are the operator's, edited in place).
	ErrFolder = errors.New("the widget package is a folder in the widgets directory")
)

// Put validates a widget package ZIP and writes it as <id>.zip, replacing
// the previous one, then reloads. Nothing is written when the package has
// a problem: the error is schema.Errors with every one of them. The file
// appears at once or not at all (a temporary file renamed into place), so
// the watcher of another replica sharing the directory never loads half
// of it. The ZIP is read in memory and never extracted.
func (d *Dir) Put(id string, data []byte) (*schema.Widget, error) {
	if !schema.ValidWidgetID(id) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if fi, err := os.Lstat(filepath.Join(d.path, id)); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%w: %s", ErrFolder, id)
	}
	in := schema.InspectZip(id, id+".zip", data, d.opt.Schema)
	if len(in.Errs) > 0 {
		return nil, in.Errs
	}
	if d.opt.Accept != nil {
		widgets := map[string]*schema.Widget{}
		cat := d.Catalog()
		for _, other := range cat.IDs() {
			widgets[other], _ = cat.Widget(other)
		}
		widgets[id] = in.Widget
		if err := d.opt.Accept(schema.NewCatalog(widgets)); err != nil {
			return nil, fieldErrors(err)
		}
	}
	if err := writeAtomic(d.path, id+".zip", data); err != nil {
		return nil, err
	}
	d.reloadLocked()
	w, ok := d.Catalog().Widget(id)
	if !ok {
		return nil, fmt.Errorf("widget package %s was written but did not load: see the operator page", id)
	}
	return w, nil
}

// Delete removes the package id, a zip or a folder, and reloads. The
// passports and bindings its widget used stay.
func (d *Dir) Delete(id string) error {
	if !schema.ValidWidgetID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	removed := false
	if err := os.Remove(filepath.Join(d.path, id+".zip")); err == nil {
		removed = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing widget package %s: %w", id, err)
	}
	folder := filepath.Join(d.path, id)
	if fi, err := os.Lstat(folder); err == nil && fi.IsDir() {
		// Renamed away first, so that the folder vanishes at once rather
		// than file by file under a watcher's eyes.
		gone, err := os.MkdirTemp(d.path, ".deleted-")
		if err != nil {
			return fmt.Errorf("removing widget package %s: %w", id, err)
		}
		if err := os.Rename(folder, filepath.Join(gone, id)); err != nil {
			os.Remove(gone)
			return fmt.Errorf("removing widget package %s: %w", id, err)
		}
		if err := os.RemoveAll(gone); err != nil {
			d.opt.Logger.Warn("a deleted widget folder could not be cleaned up", "path", gone, "error", err)
		}
		removed = true
	}
	if !removed {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	d.reloadLocked()
	return nil
}

// writeAtomic writes data to dir/name through a temporary file renamed
// into place. The temporary name starts with ".", which the loader skips.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return fmt.Errorf("writing widget package %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing widget package %s: %w", name, err)
	}
	// The rename is durable once the directory is synced.
	if df, err := os.Open(dir); err == nil {
		df.Sync()
		df.Close()
	}
	return nil
}
