package lint

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A clean package: no error, no warning. Rows below change one thing.
const baseSchema = `{
  "passport": {"filePath": "passport/conn.json"},
  "authentications": [{"label": "Conn", "authenticationType": "passport", "authKey": "k", "metadata": {"passportProvider": "custom:conn"}}],
  "authenticatedApis": [{"label": "A", "name": "a", "url": "https://api.example.com/users/{param.id}?page={param.page}", "method": "GET",
    "authenticationKey": "k", "headers": {"Authorization": "Bearer {authorization.k.token}"}, "paramPatterns": {"id": "[0-9]+"}}]
}`

const basePassport = `{"name": "Conn", "applicationName": "custom", "authenticationType": "OAuth", "isCustomApplication": true,
  "customApplicationInfo": {"name": "conn", "displayName": "Conn", "description": "", "categoryType": "Custom",
    "authenticationType": "OAuth", "parentName": "custom",
    "metadata": {"clientId": "id", "clientSecret": "vault:widgetgate/providers/conn#client_secret",
      "authenticationUrl": "https://auth.example.com/authorize", "tokenUrl": "https://auth.example.com/token"}},
  "metadata": {}}`

// literalSecret makes the passport's secret literal, renaming the passport
// so that it does not clash with the base one in a run with both.
func literalSecret(t *testing.T) map[string]string {
	return apply(t, basePackage(), []edit{
		{"passport/conn.json", "vault:widgetgate/providers/conn#client_secret", "s3cret"},
		{"passport/conn.json", `"name": "conn"`, `"name": "conn-2"`},
		{"schema.json", "custom:conn", "custom:conn-2"},
	})
}

func basePackage() map[string]string {
	return map[string]string{"schema.json": baseSchema, "passport/conn.json": basePassport, "widget.html": "<html></html>"}
}

// edit changes one file of a package: old replaced by new, or, with old
// empty, the whole file set to new; new "-" deletes the file.
type edit struct{ file, old, new string }

func apply(t *testing.T, files map[string]string, edits []edit) map[string]string {
	t.Helper()
	for _, e := range edits {
		switch {
		case e.new == "-":
			delete(files, e.file)
		case e.old == "":
			files[e.file] = e.new
		default:
			if !strings.Contains(files[e.file], e.old) {
				t.Fatalf("edit: %s has no %q", e.file, e.old)
			}
			files[e.file] = strings.Replace(files[e.file], e.old, e.new, 1)
		}
	}
	return files
}

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

func writeZip(t *testing.T, file string, add func(zw *zip.Writer)) {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	add(zw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func zipFiles(files map[string]string) func(zw *zip.Writer) {
	return func(zw *zip.Writer) {
		for name, content := range files {
			w, _ := zw.Create(name)
			w.Write([]byte(content))
		}
	}
}

// want is an expected finding: the file relative to the test's folder,
// the field, and a part of the message.
type want struct{ file, field, msg string }

func (w want) matches(dir string, f Finding) bool {
	return strings.TrimPrefix(f.File, dir+string(filepath.Separator)) == w.file && f.Field == w.field && strings.Contains(f.Message, w.msg)
}

func TestBasePackageIsClean(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, filepath.Join(dir, "w"), basePackage())
	reports, err := Lint([]string{filepath.Join(dir, "w")})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || reports[0].Widget != "w" || len(reports[0].Errors)+len(reports[0].Warnings) != 0 {
		t.Fatalf("reports = %+v", reports)
	}
}

// TestLint: one row per error and per warning lint reports. Each row
// changes the clean package (edits) or builds its own (setup, returning
// lint's arguments), and lists exactly the errors, or for a warning row
// exactly the warnings (and no error), it must give.
func TestLint(t *testing.T) {
	const s, p = "schema.json", "passport/conn.json"
	api := `"authenticatedApis": [{"label": "A", "name": "a", "url": `
	tests := []struct {
		name  string
		edits []edit
		setup func(t *testing.T, dir string) []string
		errs  []want
		warns []want
	}{
		// The package and the widgets folder.
		{name: "symbolic link", setup: func(t *testing.T, dir string) []string {
			writeFolder(t, filepath.Join(dir, "real"), basePackage())
			os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "w"))
			return []string{filepath.Join(dir, "w")}
		}, errs: []want{{"w", "", "symbolic links are not loaded"}}},
		{name: "bad widget id", setup: func(t *testing.T, dir string) []string {
			writeFolder(t, filepath.Join(dir, "bad id"), basePackage())
			return []string{filepath.Join(dir, "bad id")}
		}, errs: []want{{"bad id", "", `widget id "bad id" must match`}}},
		{name: "widget id used twice", setup: func(t *testing.T, dir string) []string {
			writeFolder(t, filepath.Join(dir, "widgets", "w"), basePackage())
			writeZip(t, filepath.Join(dir, "widgets", "w.zip"), zipFiles(basePackage()))
			return []string{filepath.Join(dir, "widgets")}
		}, errs: []want{{"widgets/w.zip", "", `widget id "w" is also used by`}}},
		{name: "folder without packages", setup: func(t *testing.T, dir string) []string {
			os.Mkdir(filepath.Join(dir, "empty"), 0o755)
			return []string{filepath.Join(dir, "empty")}
		}, errs: []want{{"empty", "", "holds no widget package"}}},
		{name: "zip unreadable", setup: func(t *testing.T, dir string) []string {
			os.WriteFile(filepath.Join(dir, "w.zip"), []byte("not a zip"), 0o644)
			return []string{filepath.Join(dir, "w.zip")}
		}, errs: []want{{"w.zip", "", "not a readable zip"}}},
		{name: "zip escaping entry", setup: func(t *testing.T, dir string) []string {
			writeZip(t, filepath.Join(dir, "w.zip"), zipFiles(apply(t, basePackage(), []edit{{"../evil.json", "", "{}"}})))
			return []string{filepath.Join(dir, "w.zip")}
		}, errs: []want{{"w.zip", "", `entry "../evil.json" has an absolute or escaping path`}}},
		{name: "zip symbolic link entry", setup: func(t *testing.T, dir string) []string {
			writeZip(t, filepath.Join(dir, "w.zip"), func(zw *zip.Writer) {
				zipFiles(basePackage())(zw)
				h := &zip.FileHeader{Name: "link"}
				h.SetMode(fs.ModeSymlink | 0o777)
				w, _ := zw.CreateHeader(h)
				w.Write([]byte("/etc/passwd"))
			})
			return []string{filepath.Join(dir, "w.zip")}
		}, errs: []want{{"w.zip", "", `entry "link" is a symbolic link`}}},
		{name: "zip too many entries", setup: func(t *testing.T, dir string) []string {
			writeZip(t, filepath.Join(dir, "w.zip"), func(zw *zip.Writer) {
				zipFiles(basePackage())(zw)
				for i := range 1000 {
					zw.Create(fmt.Sprintf("f%d", i))
				}
			})
			return []string{filepath.Join(dir, "w.zip")}
		}, errs: []want{{"w.zip", "", "more than 1000 entries"}}},
		{name: "zip too large", setup: func(t *testing.T, dir string) []string {
			writeZip(t, filepath.Join(dir, "w.zip"), func(zw *zip.Writer) {
				zipFiles(basePackage())(zw)
				// The directory claims 65 MiB; it is never read.
				zw.CreateRaw(&zip.FileHeader{Name: "big", Method: zip.Store, UncompressedSize64: 65 << 20})
			})
			return []string{filepath.Join(dir, "w.zip")}
		}, errs: []want{{"w.zip", "", "uncompresses to more than"}}},

		// schema.json as a file.
		{name: "schema missing", edits: []edit{{s, "", "-"}}, errs: []want{{"w/schema.json", "", "cannot open"}}},
		{name: "schema too large", edits: []edit{{s, `"passport"`, `"x": "` + strings.Repeat("a", 1<<20) + `", "passport"`}},
			errs: []want{{"w/schema.json", "", "larger than 1048576 bytes"}}},
		{name: "invalid JSON", edits: []edit{{s, "", `{"authentications": [}`}}, errs: []want{{"w/schema.json", "", "invalid JSON at byte"}}},
		{name: "trailing data", edits: []edit{{s, "", baseSchema + ` {}`}}, errs: []want{{"w/schema.json", "", "trailing data"}}},
		{name: "key given twice", edits: []edit{{s, `"authKey": "k"`, `"authKey": "k", "authkey": "k"`}},
			errs: []want{{"w/schema.json", "", `keys "authKey" and "authkey" differ only in case`}}},
		{name: "wrong JSON type", edits: []edit{{s, "", `{"authenticatedApis": {}}`}},
			errs: []want{{"w/schema.json", "authenticatedApis", "expected []schema.APISpec, got JSON object"}}},

		// authentications[].
		{name: "authKey missing", edits: []edit{{s, `"authentications": [`, `"authentications": [{"authenticationType": "passport"}, `}},
			errs: []want{{"w/schema.json", "authentications[0].authKey", "required"}}},
		{name: "authKey alphabet", edits: []edit{{s, `"authentications": [`, `"authentications": [{"authenticationType": "passport", "authKey": "a b"}, `}},
			errs: []want{{"w/schema.json", "authentications[0].authKey", `"a b": use letters, digits`}}},
		{name: "authKey twice", edits: []edit{{s, `"authentications": [`, `"authentications": [{"authenticationType": "passport", "authKey": "k"}, `}},
			errs: []want{{"w/schema.json", "authentications[1].authKey", `"k" is declared twice`}}},
		{name: "authenticationType", edits: []edit{{s, `"authenticationType": "passport"`, `"authenticationType": "custom"`}},
			errs: []want{{"w/schema.json", "authentications[0].authenticationType", `must be "passport", got "custom"`}}},

		// authenticatedApis[].
		{name: "name missing", edits: []edit{{s, `"name": "a"`, `"name": ""`}},
			errs: []want{{"w/schema.json", "authenticatedApis[0].name", "required"}}},
		{name: "name alphabet", edits: []edit{{s, `"name": "a"`, `"name": "a b"`}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a b).name", `"a b": use letters`}}},
		{name: "name twice", edits: []edit{{s, `}]
}`, `}, {"label": "B", "name": "a", "url": "https://api.example.com/b", "method": "GET", "authenticationKey": "k"}]}`}},
			errs: []want{{"w/schema.json", "authenticatedApis[1] (a).name", "used by another API"}}},
		{name: "method", edits: []edit{{s, `"method": "GET"`, `"method": "TRACE"`}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).method", `"TRACE" is not one of`}}},
		{name: "authenticationKey unknown", edits: []edit{{s, `"authenticationKey": "k"`, `"authenticationKey": "other"`}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).authenticationKey", `"other" matches no authentications[].authKey`}}},
		{name: "url variable unknown", edits: []edit{{s, "{param.id}", "{params.id}"}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).url", "unknown template variable {params.id}"}}},
		{name: "url scheme", edits: []edit{{s, "https://api.example.com", "ftp://api.example.com"}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).url", `scheme "ftp" is not allowed`}}},
		{name: "header name invalid", edits: []edit{{s, `"Authorization":`, `"Bad Name": "x", "Authorization":`}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).headers.Bad Name", "not a valid header name"}}},
		{name: "header reserved", edits: []edit{{s, `"Authorization":`, `"Host": "evil.example", "Authorization":`}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).headers.Host", "managed by widgetgate"}}},
		{name: "Authorization without token", edits: []edit{{s, "Bearer {authorization.k.token}", "Bearer static"}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).headers.Authorization", "must inject the passport token"}}},
		{name: "token of another key", edits: []edit{{s, "{authorization.k.token}", "{authorization.z.token}"}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).headers.Authorization", `{authorization.z.token}: this API authenticates with "k"`}}},
		{name: "param in a header", edits: []edit{{s, `"Authorization":`, `"X-Id": "{param.id}", "Authorization":`}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).headers.X-Id", "variable {param.id} is not allowed here"}}},
		{name: "param pattern invalid", edits: []edit{{s, `"[0-9]+"`, `"[0-9"`}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).paramPatterns.id", "missing closing ]"}}},
		{name: "body not a JSON object, array or string", edits: []edit{{s, `"paramPatterns"`, `"body": 42, "paramPatterns"`}},
			errs: []want{{"w/schema.json", "authenticatedApis[0] (a).body", "must be a JSON object, array or string"}}},

		// The bundled passport.
		{name: "passport path escapes", edits: []edit{{s, "passport/conn.json", "../conn.json"}},
			errs: []want{{"w/schema.json", "passport.filePath", "must be a relative path to a .json file inside the package"}}},
		{name: "passport file missing", edits: []edit{{p, "", "-"}},
			errs: []want{{"w/schema.json", "passport.filePath", `"passport/conn.json": cannot open`}}},
		{name: "passport invalid JSON", edits: []edit{{p, "", `{"name": `}},
			errs: []want{{"w/passport/conn.json", "", "invalid JSON"}}},
		{name: "passport name missing", edits: []edit{{p, `"name": "conn", `, ``}},
			errs: []want{{"w/passport/conn.json", "customApplicationInfo.name", "required"}}},
		{name: "passportProvider not the bundled one", edits: []edit{{s, "custom:conn", "custom:other"}},
			errs: []want{{"w/schema.json", "authentications[0].metadata.passportProvider", `"custom:other" does not match the bundled passport passport/conn.json`}}},
		{name: "passport OAuth field", edits: []edit{{p, "https://auth.example.com/token", "ftp://auth.example.com/token"}},
			errs: []want{{"w/passport/conn.json", "customApplicationInfo.metadata.tokenUrl", "invalid URL"}}},
		{name: "passport defined twice, differently", setup: func(t *testing.T, dir string) []string {
			writeFolder(t, filepath.Join(dir, "w"), basePackage())
			writeFolder(t, filepath.Join(dir, "w2"), apply(t, basePackage(), []edit{{p, "auth.example.com/token", "auth.example.com/other"}}))
			writeFolder(t, filepath.Join(dir, "w3"), basePackage()) // the same file again is fine
			return []string{filepath.Join(dir, "w"), filepath.Join(dir, "w2"), filepath.Join(dir, "w3")}
		}, errs: []want{{"w2/passport/conn.json", "customApplicationInfo.name", `provider "custom:conn" is also defined by`}}},

		// widget.html.
		{name: "widget.html unreadable", setup: func(t *testing.T, dir string) []string {
			writeFolder(t, filepath.Join(dir, "w"), apply(t, basePackage(), []edit{{"widget.html", "", "-"}}))
			os.Mkdir(filepath.Join(dir, "w", "widget.html"), 0o755)
			return []string{filepath.Join(dir, "w")}
		}, errs: []want{{"w/widget.html", "", "cannot read"}}},

		// Warnings.
		{name: "authentication no API uses", edits: []edit{{s, `"authentications": [`, `"authentications": [{"authenticationType": "passport", "authKey": "spare"}, `}},
			warns: []want{{"w/schema.json", "authentications[0].authKey", `"spare" is used by no API`}}},
		{name: "plain http url", edits: []edit{{s, api + `"https://`, api + `"http://`}},
			warns: []want{{"w/schema.json", "authenticatedApis[0] (a).url", "plain http"}}},
		{name: "IP address host", edits: []edit{{s, "api.example.com", "192.0.2.1"}},
			warns: []want{{"w/schema.json", "authenticatedApis[0] (a).url", "host 192.0.2.1 is an IP address"}}},
		{name: "path variable no param can fill", edits: []edit{{s, `"[0-9]+"`, `"\\.|\\.\\.|[0-9]*/[0-9]+"`}},
			warns: []want{{"w/schema.json", "authenticatedApis[0] (a).url", "no param can fill {param.id}: paramPatterns.id accepts no value a path segment takes"}}},
		{name: "query variable no param can fill", edits: []edit{{s, `"[0-9]+"`, `"[0-9]+", "page": "\\n"`}},
			warns: []want{{"w/schema.json", "authenticatedApis[0] (a).url", "no param can fill {param.page}: paramPatterns.page accepts no value a query value takes"}}},
		{name: "variable in the static body", edits: []edit{{s, `"paramPatterns"`, `"body": {"q": "{param.q}", "u": "{user.id}"}, "paramPatterns"`}},
			warns: []want{
				{"w/schema.json", "authenticatedApis[0] (a).body", "{param.q} is sent as written"},
				{"w/schema.json", "authenticatedApis[0] (a).body", "{user.id} is sent as written"}}},
		{name: "literal client secret", edits: []edit{{p, "vault:widgetgate/providers/conn#client_secret", "s3cret"}},
			warns: []want{{"w/passport/conn.json", "customApplicationInfo.metadata.clientSecret", "a literal client secret"}}},
		{name: "configuration field of an unknown type", edits: []edit{{s, api, `"configuration": {"fields": [{"name": "pic", "type": "mediaPicker"}]}, ` + api}},
			warns: []want{{"w/schema.json", "configuration.fields[0] (pic).type", `"mediaPicker" is not a field type widgetgate knows`}}},
		{name: "configuration field errors", edits: []edit{{s, api, `"configuration": {"fields": [{"name": "n", "type": "number", "default": "x"}, {"name": "n", "type": "select"}]}, ` + api}},
			errs: []want{{"w/schema.json", "configuration.fields[0] (n).default", "must be a number"},
				{"w/schema.json", "configuration.fields[1] (n).options", "a select needs at least one option"},
				{"w/schema.json", "configuration.fields[1] (n).name", `"n" is used by another field`}}},
		{name: "plain http passport endpoint", edits: []edit{{p, "https://auth.example.com/token", "http://localhost/token"}},
			warns: []want{{"w/passport/conn.json", "customApplicationInfo.metadata.tokenUrl", "plain http"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{filepath.Join(dir, "w")}
			if tc.setup != nil {
				args = tc.setup(t, dir)
			} else {
				writeFolder(t, args[0], apply(t, basePackage(), tc.edits))
			}
			reports, err := Lint(args)
			if err != nil {
				t.Fatalf("Lint: %v", err)
			}
			var errs, warns []Finding
			for _, r := range reports {
				errs = append(errs, r.Errors...)
				warns = append(warns, r.Warnings...)
			}
			check := func(kind string, got []Finding, want []want) {
				t.Helper()
				ok := len(got) == len(want)
				for i := 0; ok && i < len(want); i++ {
					ok = want[i].matches(dir, got[i])
				}
				if !ok {
					t.Errorf("%s:\n got  %q\n want %q", kind, got, want)
				}
			}
			check("errors", errs, tc.errs)
			if tc.warns != nil {
				check("warnings", warns, tc.warns)
			}
		})
	}
}

// TestEveryErrorReported: several errors in one package, in schema.json
// and in the bundled passport, are all reported, in file order.
func TestEveryErrorReported(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "w")
	writeFolder(t, pkg, apply(t, basePackage(), []edit{
		{"schema.json", `"authentications": [`, `"authentications": [{"authenticationType": "oauth", "authKey": "a b"}, `},
		{"schema.json", `"method": "GET"`, `"method": "TRACE"`},
		{"schema.json", "{param.id}", "{param.id"},
		{"schema.json", `"Authorization":`, `"Host": "x", "Authorization":`},
		{"passport/conn.json", `"clientId": "id", `, ``},
		{"passport/conn.json", "https://auth.example.com/token", "ftp://x"},
	}))
	reports, err := Lint([]string{pkg})
	if err != nil {
		t.Fatal(err)
	}
	want := []want{
		{"w/schema.json", "authentications[0].authKey", `"a b": use letters`},
		{"w/schema.json", "authentications[0].authenticationType", `got "oauth"`},
		{"w/schema.json", "authenticatedApis[0] (a).method", "TRACE"},
		{"w/schema.json", "authenticatedApis[0] (a).url", "unclosed '{'"},
		{"w/schema.json", "authenticatedApis[0] (a).headers.Host", "managed by widgetgate"},
		{"w/passport/conn.json", "customApplicationInfo.metadata.clientId", "required"},
		{"w/passport/conn.json", "customApplicationInfo.metadata.tokenUrl", "invalid URL"},
	}
	got := reports[0].Errors
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%q", len(got), len(want), got)
	}
	for i, w := range want {
		if !w.matches(dir, got[i]) {
			t.Errorf("error %d = %q, want %q", i, got[i], w)
		}
	}
}

func TestMain(t *testing.T) {
	dir := t.TempDir()
	good, warned, bad := filepath.Join(dir, "good"), filepath.Join(dir, "warned"), filepath.Join(dir, "bad")
	writeFolder(t, good, basePackage())
	writeFolder(t, warned, literalSecret(t))
	writeFolder(t, bad, apply(t, basePackage(), []edit{{"schema.json", `"method": "GET"`, `"method": "TRACE"`}}))
	tests := []struct {
		args   []string
		code   int
		stdout string // part of stdout
		stderr string // part of stderr
	}{
		{[]string{good}, ExitClean, "1 package checked: 0 errors, 0 warnings", ""},
		{[]string{warned, good}, ExitClean, "passport/conn.json: customApplicationInfo.metadata.clientSecret: warning: a literal client secret", ""},
		{[]string{good, bad}, ExitErrors, bad + "/schema.json: authenticatedApis[0] (a).method: \"TRACE\" is not one of", ""},
		{[]string{dir}, ExitErrors, "3 packages checked: 1 error, 1 warning", ""},
		{[]string{"--", good}, ExitClean, "1 package checked", ""},
		{nil, ExitUsage, "", "no package to check"},
		{[]string{"--json"}, ExitUsage, "", "no package to check"},
		{[]string{"--strict", good}, ExitUsage, "", "unknown flag --strict"},
		{[]string{good, filepath.Join(dir, "nope")}, ExitUsage, "", "nope: no such file or directory"},
		{[]string{filepath.Join(good, "widget.html")}, ExitUsage, "", "not a widget package"},
		{[]string{"--help"}, ExitClean, "usage: widgetgate lint", ""},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		code := Main(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("lint %q = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
		if tc.code == ExitUsage && stdout.Len() > 0 {
			t.Errorf("lint %q printed a report on a usage error: %s", tc.args, stdout.String())
		}
	}
}

// TestJSON: --json prints one document of the documented shape, with
// every package, error and warning.
func TestJSON(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, filepath.Join(dir, "widgets", "good"), basePackage())
	writeFolder(t, filepath.Join(dir, "widgets", "bad"), apply(t, literalSecret(t), []edit{
		{"schema.json", `"method": "GET"`, `"method": "TRACE"`},
		{"schema.json", `"name": "a"`, `"name": "a b"`},
	}))
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"--json", filepath.Join(dir, "widgets")}, &stdout, &stderr); code != ExitErrors {
		t.Fatalf("exit %d, want %d; stderr: %s", code, ExitErrors, stderr.String())
	}
	type finding struct{ File, Field, Message string }
	var doc struct {
		Packages []struct {
			Path     string
			Widget   string
			Errors   []finding
			Warnings []finding
		}
	}
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Fatal("--json printed more than one document")
	}
	if len(doc.Packages) != 2 {
		t.Fatalf("packages = %+v", doc.Packages)
	}
	bad, good := doc.Packages[0], doc.Packages[1] // name order
	if good.Widget != "good" || good.Path != filepath.Join(dir, "widgets", "good") || good.Errors == nil || len(good.Errors)+len(good.Warnings) != 0 {
		t.Errorf("good = %+v", good)
	}
	wantErrs := []finding{
		{filepath.Join(dir, "widgets", "bad", "schema.json"), "authenticatedApis[0] (a b).name", `"a b": use letters, digits, '_' or '-'`},
		{filepath.Join(dir, "widgets", "bad", "schema.json"), "authenticatedApis[0] (a b).method", `"TRACE" is not one of GET, POST, PUT, PATCH, DELETE`},
	}
	if bad.Widget != "bad" || fmt.Sprint(bad.Errors) != fmt.Sprint(wantErrs) {
		t.Errorf("bad errors = %+v\nwant %+v", bad.Errors, wantErrs)
	}
	if len(bad.Warnings) != 1 || bad.Warnings[0].Field != "customApplicationInfo.metadata.clientSecret" {
		t.Errorf("bad warnings = %+v", bad.Warnings)
	}
	// Keys as documented, and arrays never null.
	var raw map[string][]map[string]any
	json.Unmarshal(stdout.Bytes(), &raw)
	for _, pkg := range raw["packages"] {
		for _, k := range []string{"errors", "warnings"} {
			if _, ok := pkg[k].([]any); !ok {
				t.Errorf("%s is %v, want an array", k, pkg[k])
			}
		}
	}
}

func TestFillable(t *testing.T) {
	tests := []struct {
		pattern     string
		path, query bool
	}{
		{`[0-9]+`, true, true},
		{``, false, true},        // only the empty value
		{`\.|\.\.`, false, true}, // only dot segments
		{`\.{3}`, true, true},    // "..." is a plain segment
		{`\.+`, true, true},
		{`[^/]*/[^/]*`, false, true}, // always a separator
		{`a\\b`, false, true},
		{`\n`, false, false}, // a control character
		{`[\x00-\x1f]+`, false, false},
		{`(?i)abc`, true, true},
		{`x?`, true, true},
		{`.`, true, true},
		{`^$`, false, true},
		{`[.]?`, false, true},
		{`(\.\.)|(/)`, false, true},
		{`\b.*\b`, true, true},
	}
	for _, tc := range tests {
		if got := fillable(tc.pattern, true); got != tc.path {
			t.Errorf("fillable(%q) in a path = %v, want %v", tc.pattern, got, tc.path)
		}
		if got := fillable(tc.pattern, false); got != tc.query {
			t.Errorf("fillable(%q) in a query = %v, want %v", tc.pattern, got, tc.query)
		}
	}
}
