package widgetdir

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// schemaAt is a package whose one API, "a", calls url.
func schemaAt(url string) map[string]string {
	return map[string]string{
		"schema.json": fmt.Sprintf(`{
  "authentications": [{"label": "G", "authenticationType": "passport", "authKey": "k", "metadata": {"passportProvider": "google"}}],
  "authenticatedApis": [{"label": "A", "name": "a", "url": %q, "method": "GET", "authenticationKey": "k",
    "headers": {"Authorization": "Bearer {authorization.k.token}"}}]
}`, url),
		"widget.html": "<html></html>",
	}
}

var broken = map[string]string{"schema.json": `{"authentications": [`}

func writeFolder(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[name]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeZip(t *testing.T, file string, files map[string]string) {
	t.Helper()
	if err := os.WriteFile(file, zipOf(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
}

// urlOf is the URL template widget id's API "a" serves, or "" if absent.
func urlOf(d *Dir, id string) string {
	api, err := d.Lookup(id, "a")
	if err != nil {
		return ""
	}
	return api.URL.String()
}

func open(t *testing.T, dir string, opt Options) *Dir {
	t.Helper()
	d, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpenRefusesABrokenPackage(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, filepath.Join(dir, "good"), schemaAt("https://api.example.com/good"))
	writeFolder(t, filepath.Join(dir, "bad"), broken)
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "bad", "schema.json")) {
		t.Fatalf("Open = %v, want the broken package's schema.json named", err)
	}
}

// TestReload walks one directory through the changes an operator makes,
// each step checked against what serves and what is reported.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, filepath.Join(dir, "cal"), schemaAt("https://api.example.com/v1"))
	writeZip(t, filepath.Join(dir, "zoom.zip"), schemaAt("https://zoom.example.com/v1"))
	var swaps atomic.Int32
	d := open(t, dir, Options{Changed: func(*schema.Catalog) { swaps.Add(1) }})

	inFlight, err := d.Lookup("cal", "a")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		change   func()
		urls     map[string]string // widget → URL serving ("" absent)
		problems map[string]bool   // widget → previous version serving
		swapped  bool
	}{
		{name: "nothing changed", change: func() {},
			urls: map[string]string{"cal": "https://api.example.com/v1", "zoom": "https://zoom.example.com/v1"}},
		{name: "folder package edited", change: func() { writeFolder(t, filepath.Join(dir, "cal"), schemaAt("https://api.example.com/v2")) },
			urls: map[string]string{"cal": "https://api.example.com/v2", "zoom": "https://zoom.example.com/v1"}, swapped: true},
		{name: "broken replacement keeps the previous version", change: func() { writeFolder(t, filepath.Join(dir, "cal"), broken) },
			urls:     map[string]string{"cal": "https://api.example.com/v2", "zoom": "https://zoom.example.com/v1"},
			problems: map[string]bool{"cal": true}, swapped: true},
		{name: "still broken: nothing new", change: func() {},
			urls:     map[string]string{"cal": "https://api.example.com/v2", "zoom": "https://zoom.example.com/v1"},
			problems: map[string]bool{"cal": true}},
		{name: "fixed", change: func() { writeFolder(t, filepath.Join(dir, "cal"), schemaAt("https://api.example.com/v3")) },
			urls: map[string]string{"cal": "https://api.example.com/v3", "zoom": "https://zoom.example.com/v1"}, swapped: true},
		{name: "broken new package stays absent", change: func() { writeZip(t, filepath.Join(dir, "new.zip"), broken) },
			urls:     map[string]string{"cal": "https://api.example.com/v3", "new": ""},
			problems: map[string]bool{"new": false}, swapped: true},
		{name: "zip replaced", change: func() { writeZip(t, filepath.Join(dir, "zoom.zip"), schemaAt("https://zoom.example.com/v2")) },
			urls:     map[string]string{"zoom": "https://zoom.example.com/v2"},
			problems: map[string]bool{"new": false}, swapped: true},
		{name: "package removed", change: func() { os.Remove(filepath.Join(dir, "zoom.zip")); os.Remove(filepath.Join(dir, "new.zip")) },
			urls: map[string]string{"zoom": "", "new": "", "cal": "https://api.example.com/v3"}, swapped: true},
		{name: "dot files and other files ignored", change: func() {
			writeZip(t, filepath.Join(dir, ".half.zip"), broken)
			os.WriteFile(filepath.Join(dir, "README.txt"), []byte("x"), 0o644)
		}, urls: map[string]string{"cal": "https://api.example.com/v3"}},
	}
	for _, s := range steps {
		before := swaps.Load()
		s.change()
		d.Reload()
		for id, want := range s.urls {
			if got := urlOf(d, id); got != want {
				t.Errorf("%s: %s serves %q, want %q", s.name, id, got, want)
			}
		}
		got := map[string]bool{}
		for _, p := range d.Problems() {
			got[p.Widget] = p.Serving
			if len(p.Errors) == 0 {
				t.Errorf("%s: problem of %s lists no error", s.name, p.Widget)
			}
		}
		if !maps.Equal(got, s.problems) {
			t.Errorf("%s: problems %v, want %v", s.name, got, s.problems)
		}
		if swapped := swaps.Load() != before; swapped != s.swapped {
			t.Errorf("%s: swapped = %v, want %v", s.name, swapped, s.swapped)
		}
	}
	if got := inFlight.URL.String(); got != "https://api.example.com/v1" {
		t.Errorf("an API looked up before the changes now says %q: a call in flight must keep its version", got)
	}
}

func TestReloadNamesTheFileAndField(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, filepath.Join(dir, "cal"), schemaAt("https://api.example.com/v1"))
	d := open(t, dir, Options{})
	writeFolder(t, filepath.Join(dir, "cal"), schemaAt("ftp://api.example.com/v1"))
	d.Reload()
	p := d.Problems()
	want := filepath.Join(dir, "cal", "schema.json") + ": authenticatedApis[0] (a).url"
	if len(p) != 1 || len(p[0].Errors) != 1 || !strings.HasPrefix(p[0].Errors[0], want) {
		t.Fatalf("problems = %+v, want one starting %q", p, want)
	}
}

func TestAcceptRefusesAPackage(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, filepath.Join(dir, "cal"), schemaAt("https://api.example.com/v1"))
	accept := func(c *schema.Catalog) error {
		if _, ok := c.Widget("clash"); ok {
			return &schema.FieldError{File: "clash/passport/p.json", Err: errors.New(`provider "custom:p" is also defined by cal`)}
		}
		return nil
	}
	d := open(t, dir, Options{Accept: accept})
	writeFolder(t, filepath.Join(dir, "clash"), schemaAt("https://api.example.com/x"))
	writeFolder(t, filepath.Join(dir, "fine"), schemaAt("https://api.example.com/y"))
	d.Reload()
	if urlOf(d, "clash") != "" || urlOf(d, "fine") == "" || urlOf(d, "cal") == "" {
		t.Fatalf("serving %v, want cal and fine, not clash", d.IDs())
	}
	p := d.Problems()
	if len(p) != 1 || p[0].Widget != "clash" || !strings.Contains(p[0].Errors[0], "also defined by cal") {
		t.Fatalf("problems = %+v", p)
	}
}

// TestPut: an upload is written only when valid, and serves at once.
func TestPut(t *testing.T) {
	many := map[string]string{}
	for i := range 1001 {
		many[fmt.Sprintf("f%d.txt", i)] = ""
	}
	tests := []struct {
		name string
		id   string
		data func(t *testing.T) []byte
		want []string // each a part of one error; nil: accepted
		is   error
	}{
		{name: "good", id: "cal", data: func(t *testing.T) []byte { return zipOf(t, schemaAt("https://api.example.com/up")) }},
		{name: "every error listed", id: "cal", data: func(t *testing.T) []byte {
			s := schemaAt("ftp://api.example.com/v1")
			s["schema.json"] = strings.Replace(s["schema.json"], `"method": "GET"`, `"method": "TRACE"`, 1)
			return zipOf(t, s)
		}, want: []string{"cal.zip/schema.json: authenticatedApis[0] (a).method", "cal.zip/schema.json: authenticatedApis[0] (a).url"}},
		{name: "traversal name", id: "cal", data: func(t *testing.T) []byte {
			s := schemaAt("https://api.example.com/v1")
			s["../evil.json"] = "{}"
			return zipOf(t, s)
		}, want: []string{`entry "../evil.json" has an absolute or escaping path`}},
		{name: "too many entries", id: "cal", data: func(t *testing.T) []byte { return zipOf(t, many) }, want: []string{"more than 1000 entries"}},
		{name: "oversize", id: "cal", data: func(t *testing.T) []byte { return make([]byte, schema.MaxZipBytes+1) }, want: []string{"larger than"}},
		{name: "not a zip", id: "cal", data: func(t *testing.T) []byte { return []byte("PK?") }, want: []string{"not a readable zip"}},
		{name: "bad id", id: "../cal", data: func(t *testing.T) []byte { return zipOf(t, schemaAt("https://api.example.com/v1")) }, is: ErrInvalidID},
		{name: "folder package", id: "folder", data: func(t *testing.T) []byte { return zipOf(t, schemaAt("https://api.example.com/v1")) }, is: ErrFolder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeZip(t, filepath.Join(dir, "cal.zip"), schemaAt("https://api.example.com/v1"))
			writeFolder(t, filepath.Join(dir, "folder"), schemaAt("https://api.example.com/f"))
			d := open(t, dir, Options{})
			before := listing(t, dir)
			_, err := d.Put(tt.id, tt.data(t))
			if tt.want == nil && tt.is == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := urlOf(d, "cal"); got != "https://api.example.com/up" {
					t.Fatalf("after upload cal serves %q", got)
				}
				if got, want := names(listing(t, dir)), names(before); !slices.Equal(got, want) {
					t.Fatalf("directory %v, want %v (no temporary file left)", got, want)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			var es schema.Errors
			if tt.want != nil && (!errors.As(err, &es) || len(es) != len(tt.want)) {
				t.Fatalf("err = %v, want %d problems", err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(es[i].Error(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, es[i], w)
				}
			}
			if got := listing(t, dir); !slices.Equal(got, before) {
				t.Fatalf("directory %v after a refused upload, want %v", got, before)
			}
			if got := urlOf(d, "cal"); got != "https://api.example.com/v1" {
				t.Fatalf("cal serves %q after a refused upload", got)
			}
		})
	}
}

// listing is every file under dir with its content's length.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, fmt.Sprintf("%s %d", rel, fi.Size()))
		}
		return nil
	})
	return out
}

// names drops the sizes of a listing.
func names(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i], _, _ = strings.Cut(s, " ")
	}
	return out
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	writeZip(t, filepath.Join(dir, "cal.zip"), schemaAt("https://api.example.com/v1"))
	writeFolder(t, filepath.Join(dir, "folder"), schemaAt("https://api.example.com/f"))
	d := open(t, dir, Options{})
	for _, id := range []string{"cal", "folder"} {
		if err := d.Delete(id); err != nil {
			t.Fatal(err)
		}
		if urlOf(d, id) != "" {
			t.Fatalf("%s still serves", id)
		}
	}
	if err := d.Delete("cal"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete = %v", err)
	}
	if err := d.Delete(".."); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("delete .. = %v", err)
	}
	if got := listing(t, dir); !slices.Equal(got, []string{". " + fmt.Sprint(dirSize(t, dir))}) {
		t.Fatalf("directory after deletes: %v", got)
	}
}

func dirSize(t *testing.T, dir string) int64 {
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestWatch: changes are picked up without calling Reload, including a
// file edited in a sub-folder of a folder package.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, filepath.Join(dir, "cal"), schemaAt("https://api.example.com/v1"))
	d := open(t, dir, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	started := make(chan struct{})
	go func() {
		d.Watch(ctx, WatchOptions{Debounce: time.Millisecond, Started: func() { close(started) }})
		close(done)
	}()
	defer func() { cancel(); <-done }()
	<-started

	steps := []struct {
		name   string
		change func()
		ok     func() bool
	}{
		{"edit", func() { writeFolder(t, filepath.Join(dir, "cal"), schemaAt("https://api.example.com/v2")) },
			func() bool { return urlOf(d, "cal") == "https://api.example.com/v2" }},
		{"add", func() { writeZip(t, filepath.Join(dir, "zoom.zip"), schemaAt("https://zoom.example.com/v1")) },
			func() bool { return urlOf(d, "zoom") != "" }},
		{"new sub-folder file", func() { writeFolder(t, filepath.Join(dir, "cal"), map[string]string{"passport/x.json": "{}"}) },
			func() bool { return d.Catalog() != nil && len(d.Problems()) == 0 && urlOf(d, "cal") != "" }},
		{"break", func() { writeFolder(t, filepath.Join(dir, "cal"), broken) },
			func() bool { return len(d.Problems()) == 1 && urlOf(d, "cal") == "https://api.example.com/v2" }},
		{"remove", func() { os.Remove(filepath.Join(dir, "zoom.zip")) },
			func() bool { return urlOf(d, "zoom") == "" }},
	}
	for _, s := range steps {
		s.change()
		t.Log(s.name)
		testenv.WaitUntil(t, s.ok)
	}
}
