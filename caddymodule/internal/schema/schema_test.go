package schema

import (
	"archive/zip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const calendarSchema = `{
  "authentications": [{"label": "Google Calendar", "authenticationType": "passport", "authKey": "googleCalAuth",
                       "metadata": {"passportProvider": "google"}}],
  "authenticatedApis": [{"label": "Get Calendar Events", "name": "getCalendarEvents",
    "url": "https://www.googleapis.com/calendar/v3/calendars/primary/events", "method": "GET",
    "authenticationKey": "googleCalAuth",
    "headers": {"Authorization": "Bearer {authorization.googleCalAuth.token}", "Accept": "application/json"}}]
}`

func writeFiles(t *testing.T, dir string, files map[string]string) {
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

func writeZip(t *testing.T, file string, files map[string]string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestLoadDirFolderAndZip(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"calendar/schema.json": calendarSchema, "calendar/widget.html": "<html></html>", "README.txt": "ignored"})
	writeZip(t, filepath.Join(dir, "zipped.zip"), map[string]string{"schema.json": calendarSchema, "widget.html": "<html></html>"})

	c, err := LoadDir(dir, Options{})
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if got := strings.Join(c.IDs(), ","); got != "calendar,zipped" {
		t.Fatalf("widgets = %s, want calendar,zipped", got)
	}
	api, err := c.Lookup("zipped", "getCalendarEvents")
	if err != nil {
		t.Fatal(err)
	}
	if api.Method != "GET" || api.Auth.Key != "googleCalAuth" || api.Auth.Provider != "google" {
		t.Errorf("api = %+v", api)
	}
	if len(api.Headers) != 2 || api.Headers[0].Name != "Accept" || api.Headers[1].Name != "Authorization" {
		t.Errorf("headers not canonical and sorted: %+v", api.Headers)
	}
	if _, err := c.Lookup("nope", "getCalendarEvents"); err != ErrUnknownWidget {
		t.Errorf("unknown widget: %v", err)
	}
	if _, err := c.Lookup("calendar", "nope"); err != ErrUnknownAPI {
		t.Errorf("unknown api: %v", err)
	}
}

func TestBodyAndBundledPassport(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"saas/schema.json": `{"passport": {"filePath": "passport/my-api-connector.json"},
		  "authentications": [{"authenticationType": "passport", "authKey": "myApiAuth", "metadata": {"passportProvider": "custom:my-api-connector"}}],
		  "authenticatedApis": [
		    {"label": "Post", "name": "postData", "url": "https://api.example.com/v1/data", "method": "post",
		     "authenticationKey": "myApiAuth", "headers": {"Authorization": "Bearer {authorization.myApiAuth.token}"},
		     "body": {"query": "x",  "n": [1, 2]}},
		    {"label": "Text", "name": "postText", "url": "https://api.example.com/v1/text", "method": "PUT",
		     "authenticationKey": "myApiAuth", "headers": {"Content-Type": "text/plain"}, "body": "hello"}]}`,
		"saas/passport/my-api-connector.json": `{"name": "My API Connector", "customApplicationInfo": {"name": "my-api-connector"}}`,
	})
	c, err := LoadDir(dir, Options{})
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	w, _ := c.Widget("saas")
	if w.Bundled == nil || w.Bundled.Provider() != "custom:my-api-connector" {
		t.Fatalf("bundled passport = %+v", w.Bundled)
	}
	post := w.APIs["postData"]
	if post.Method != "POST" || string(post.Body) != `{"query":"x","n":[1,2]}` || post.BodyContentType != "application/json" {
		t.Errorf("postData = %s %q %q", post.Method, post.Body, post.BodyContentType)
	}
	text := w.APIs["postText"]
	if string(text.Body) != "hello" || text.BodyContentType != "" {
		t.Errorf("postText body = %q, content type %q", text.Body, text.BodyContentType)
	}
}

func TestLoadRejects(t *testing.T) {
	api := func(fields string) string {
		return `{"authentications": [{"authenticationType": "passport", "authKey": "k", "metadata": {"passportProvider": "google"}}],
		  "authenticatedApis": [{"label": "A", "name": "a", "url": "https://h.example/x", "method": "GET", "authenticationKey": "k",
		  "headers": {"Authorization": "Bearer {authorization.k.token}"}` + fields + `}]}`
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"missing schema", map[string]string{"w/widget.html": ""}, []string{"w/schema.json", "cannot open"}},
		{"invalid JSON", map[string]string{"w/schema.json": `{"authentications": [}`}, []string{"w/schema.json", "invalid JSON"}},
		{"trailing data", map[string]string{"w/schema.json": `{} {}`}, []string{"trailing data"}},
		{"wrong type", map[string]string{"w/schema.json": `{"authenticatedApis": {}}`}, []string{"authenticatedApis"}},
		{"authenticationKey unknown", map[string]string{"w/schema.json": strings.Replace(api(""), `"authenticationKey": "k"`, `"authenticationKey": "other"`, 1)},
			[]string{"authenticatedApis[0] (a).authenticationKey", `"other" matches no`}},
		{"authenticationType custom", map[string]string{"w/schema.json": strings.Replace(api(""), `"authenticationType": "passport"`, `"authenticationType": "custom"`, 1)},
			[]string{"authentications[0].authenticationType", "must be \"passport\""}},
		{"http url", map[string]string{"w/schema.json": strings.Replace(api(""), "https://h.example", "http://h.example", 1)},
			[]string{"authenticatedApis[0] (a).url", "https"}},
		{"unknown variable", map[string]string{"w/schema.json": strings.Replace(api(""), "https://h.example/x", "https://h.example/{param.a}/{foo}", 1)},
			[]string{".url", "unknown template variable {foo}"}},
		{"bad method", map[string]string{"w/schema.json": strings.Replace(api(""), `"method": "GET"`, `"method": "TRACE"`, 1)},
			[]string{".method", "TRACE"}},
		{"duplicate api name", map[string]string{"w/schema.json": strings.Replace(api(""), `}]}`, `}, {"label": "B", "name": "a", "url": "https://h.example/y", "method": "GET", "authenticationKey": "k"}]}`, 1)},
			[]string{"authenticatedApis[1] (a).name", "used by another API"}},
		{"reserved header", map[string]string{"w/schema.json": strings.Replace(api(""), `"Authorization":`, `"Host": "evil.example", "Authorization":`, 1)},
			[]string{"headers.Host", "managed by widgetgate"}},
		{"authorization without token", map[string]string{"w/schema.json": strings.Replace(api(""), "Bearer {authorization.k.token}", "Bearer static", 1)},
			[]string{"headers.Authorization", "must inject"}},
		{"token of another key", map[string]string{"w/schema.json": strings.Replace(api(""), "{authorization.k.token}", "{authorization.z.token}", 1)},
			[]string{"{authorization.z.token}"}},
		{"param in header", map[string]string{"w/schema.json": strings.Replace(api(""), `"Authorization":`, `"X-Id": "{param.id}", "Authorization":`, 1)},
			[]string{"headers.X-Id", "not allowed here"}},
		{"numeric body", map[string]string{"w/schema.json": api(`, "body": 42`)}, []string{".body", "object, array or string"}},
		{"bad param pattern", map[string]string{"w/schema.json": api(`, "paramPatterns": {"id": "[0-9"}`)}, []string{"paramPatterns.id"}},
		{"bundled passport missing", map[string]string{"w/schema.json": `{"passport": {"filePath": "passport/x.json"}}`}, []string{"passport.filePath"}},
		{"bundled passport escapes", map[string]string{"w/schema.json": `{"passport": {"filePath": "../x.json"}}`}, []string{"inside the package"}},
		{"custom provider mismatch", map[string]string{
			"w/schema.json":     strings.Replace(`{"passport": {"filePath": "passport/p.json"},`+api("")[1:], `"google"`, `"custom:other"`, 1),
			"w/passport/p.json": `{"customApplicationInfo": {"name": "mine"}}`}, []string{`"custom:other" does not match`, "passport/p.json"}},
		{"bad widget id", map[string]string{"bad id/schema.json": `{}`}, []string{`widget id "bad id"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := LoadDir(dir, Options{})
			if err == nil {
				t.Fatal("LoadDir accepted a bad package")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestZipRejectsEscapingEntries(t *testing.T) {
	dir := t.TempDir()
	writeZip(t, filepath.Join(dir, "w.zip"), map[string]string{"schema.json": `{}`, "../evil.json": "{}"})
	if _, err := LoadDir(dir, Options{}); err == nil || !strings.Contains(err.Error(), "escaping path") {
		t.Fatalf("LoadDir = %v, want an escaping-path error", err)
	}
}

func TestSymlinkedPackageRejected(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	writeFiles(t, other, map[string]string{"schema.json": calendarSchema})
	if err := os.Symlink(other, filepath.Join(dir, "linked")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir, Options{}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("LoadDir = %v, want a symlink error", err)
	}
}

func TestZipBombRefused(t *testing.T) {
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "bomb.zip"))
	zw := zip.NewWriter(f)
	w, _ := zw.Create("schema.json")
	w.Write([]byte(`{"x": "` + strings.Repeat("a", 2<<20) + `"}`)) // compresses to a few KiB
	zw.Close()
	f.Close()
	if _, err := LoadDir(dir, Options{}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("LoadDir = %v, want the oversized schema refused", err)
	}
}

// TestLoadReportsEveryProblem: a package is refused with all its problems,
// each a *FieldError naming the file and the field, in file order; the
// zip checks of a directory entry too.
func TestLoadReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"w/schema.json": `{"passport": {"filePath": "passport/p.json"},
		  "authentications": [{"authenticationType": "oauth", "authKey": "a b"}, {"authenticationType": "passport", "authKey": "k", "metadata": {"passportProvider": "custom:q"}}],
		  "authenticatedApis": [{"name": "a", "url": "https://h.example/{x}", "method": "TRACE", "authenticationKey": "k", "headers": {"Host": "h"}}]}`,
		"w/passport/p.json": `{"customApplicationInfo": {"name": "p"}}`,
	})
	writeZip(t, filepath.Join(dir, "z.zip"), map[string]string{"schema.json": `{}`, "../a": "", "/b": ""})
	_, err := LoadDir(dir, Options{})
	if err == nil {
		t.Fatal("LoadDir accepted bad packages")
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("%T is not Errors: %v", err, err)
	}
	schemaPath := filepath.Join(dir, "w", "schema.json")
	want := []FieldError{
		{File: schemaPath, Field: "authentications[0].authKey"},
		{File: schemaPath, Field: "authentications[0].authenticationType"},
		{File: schemaPath, Field: "authenticatedApis[0] (a).method"},
		{File: schemaPath, Field: "authenticatedApis[0] (a).url"},
		{File: schemaPath, Field: "authenticatedApis[0] (a).headers.Host"},
		{File: schemaPath, Field: "authentications[1].metadata.passportProvider"},
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(errs), len(want), errs)
	}
	for i, w := range want {
		if errs[i].File != w.File || errs[i].Field != w.Field || errs[i].Err == nil {
			t.Errorf("problem %d = %q %q, want %q %q", i, errs[i].File, errs[i].Field, w.File, w.Field)
		}
	}
	if n := strings.Count(err.Error(), "has an absolute or escaping path"); n != 2 {
		t.Errorf("zip entries reported %d times, want 2:\n%v", n, err)
	}
}

func TestEntryAt(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"cal/schema.json": "{}", "README.txt": ""})
	writeZip(t, filepath.Join(dir, "cal.zip"), map[string]string{"schema.json": "{}"})
	entries, err := ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].ID != "cal" || entries[0].Zip || entries[0].Err != nil ||
		entries[1].ID != "cal" || !entries[1].Zip || entries[1].Err == nil {
		t.Fatalf("entries = %+v", entries)
	}
	if _, ok := EntryAt(filepath.Join(dir, "README.txt")); ok {
		t.Error("a text file is a package")
	}
	t.Chdir(filepath.Join(dir, "cal"))
	if e, ok := EntryAt("."); !ok || e.ID != "cal" || e.Err != nil {
		t.Errorf(`EntryAt(".") = %+v, %v; want the folder's name as id`, e, ok)
	}
}
