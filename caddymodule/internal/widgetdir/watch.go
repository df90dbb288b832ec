package widgetdir

import (
	"cmp"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchOptions tunes Watch.
type WatchOptions struct {
	// Debounce is how long the directory must be quiet after an event
	// before it is reloaded: copying a package is a burst of events.
	// Default 250ms.
	Debounce time.Duration
	// MaxDelay bounds how long a steady stream of events can put a reload
	// off. Default 2s.
	MaxDelay time.Duration
	// Poll, when set, also reloads this often whatever the events say: a
	// shared volume (NFS, SMB, many CSI drivers) does not report changes
	// made by other hosts, so replicas sharing one rely on it.
	Poll time.Duration
	// After is the clock of the debounce; nil means time.After.
	After func(time.Duration) <-chan time.Time
	// Started, if set, is called once the directory is watched: changes
	// made after it returns are seen.
	Started func()
}

// Watch reloads the directory whenever its packages change, until ctx
// ends. It watches the directory and every folder inside it (inotify and
// its kin are not recursive). A watcher that cannot start is logged and
// leaves polling, if configured, to do the work.
func (d *Dir) Watch(ctx context.Context, opt WatchOptions) {
	opt.Debounce = cmp.Or(opt.Debounce, 250*time.Millisecond)
	opt.MaxDelay = cmp.Or(opt.MaxDelay, 2*time.Second)
	if opt.After == nil {
		opt.After = time.After
	}
	log := d.opt.Logger
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Error("cannot watch the widgets directory; changes are seen only by polling or a reload", "dir", d.path, "error", err)
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
		d.syncWatches(w)
	}
	var poll <-chan time.Time
	if opt.Poll > 0 {
		t := time.NewTicker(opt.Poll)
		defer t.Stop()
		poll = t.C
	}
	if opt.Started != nil {
		opt.Started()
	}
	var quiet, deadline <-chan time.Time // nil until an event arrives
	reload := func() {
		quiet, deadline = nil, nil
		d.Reload()
		if w != nil {
			d.syncWatches(w)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Op == fsnotify.Chmod || strings.HasPrefix(filepath.Base(ev.Name), ".upload-") {
				continue // an upload's temporary file; its rename is the event
			}
			quiet = opt.After(opt.Debounce)
			if deadline == nil {
				deadline = opt.After(opt.MaxDelay)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflow loses events: read everything again.
			log.Warn("widgets directory watcher error; reloading", "dir", d.path, "error", err)
			reload()
		case <-quiet:
			reload()
		case <-deadline:
			reload()
		case <-poll:
			reload()
		}
	}
}

// syncWatches watches the directory and every folder under it, and
// stops watching folders that are gone.
func (d *Dir) syncWatches(w *fsnotify.Watcher) {
	want := []string{d.path}
	filepath.WalkDir(d.path, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.IsDir() || p == d.path {
			return nil
		}
		if strings.HasPrefix(de.Name(), ".") {
			return fs.SkipDir
		}
		if len(want) >= maxStampFiles {
			return fs.SkipAll
		}
		want = append(want, p)
		return nil
	})
	have := w.WatchList()
	for _, p := range have {
		if !slices.Contains(want, p) {
			w.Remove(p)
		}
	}
	for _, p := range want {
		if !slices.Contains(have, p) {
			if err := w.Add(p); err != nil && !os.IsNotExist(err) {
				d.opt.Logger.Warn("cannot watch a widgets folder", "path", p, "error", err)
			}
		}
	}
}
