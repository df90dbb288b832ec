package widgetdir

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
)

// stamp tells one version of a package on disk from another without
// reading it: a hash of every file's name, size, mode and modification
// time. An editor saving a file, a cp over a zip and a rename into place
// all change it.
type stamp [sha256.Size]byte

// maxStampFiles bounds the walk of a folder package, as a zip's entry
// count is bounded at load.
const maxStampFiles = 1000

// stampOf stamps the package e names.
func stampOf(e schema.Entry) (stamp, error) {
	h := sha256.New()
	add := func(rel string, fi fs.FileInfo) {
		fmt.Fprintf(h, "%q %d %v %d\n", rel, fi.Size(), fi.Mode(), fi.ModTime().UnixNano())
	}
	fi, err := os.Lstat(e.Path)
	if err != nil {
		return stamp{}, err
	}
	add(".", fi)
	if fi.IsDir() {
		n := 0
		err = filepath.WalkDir(e.Path, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if n++; n > maxStampFiles {
				return fmt.Errorf("%s: more than %d files", e.Path, maxStampFiles)
			}
			info, err := de.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(e.Path, p)
			add(rel, info)
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return stamp{}, err
		}
	}
	var st stamp
	h.Sum(st[:0])
	return st, nil
}
