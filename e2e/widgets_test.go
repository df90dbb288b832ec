package e2e

// The widgets directory while it serves: packages replaced, broken, added
// and removed on disk are picked up by the watcher (fsnotify; the 30 s
// poll is far beyond every deadline here, so a test passing proves the
// events work), and the admin API's upload and delete.
//
// This file's helpers are prefixed "wd": the e2e package is shared by
// many files, and generic names (widgetsDir, writeZip) are taken.

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

const (
	// wdPackageLimit is schema.MaxZipBytes (caddymodule/internal/schema/load.go),
	// which e2e cannot import: the most an uploaded package may hold.
	wdPackageLimit = 64 << 20
	// wdZipEntryLimit is the schema's maxZipEntries.
	wdZipEntryLimit = 1000
	// The deadline of every wait for the watcher: its debounce is 250 ms,
	// its poll 30 s.
	wdWatchDeadline = 15 * time.Second
	wdInstance      = "screen"
)

// wdSchema is a schema.json whose one API, "get", calls the stand-in's
// /echo route with version both in the query and in a header. The echo
// names which version of the package served a call, and that its URL and
// headers changed together. provider is the passport provider of authKey
// "hot"; passportFile, if set, is a bundled passport.
func wdSchema(provURL, provider, version, passportFile string) string {
	s := map[string]any{
		"authentications": []any{map[string]any{"label": "Hot", "authenticationType": "passport", "authKey": "hot",
			"metadata": map[string]any{"passportProvider": provider}}},
		"authenticatedApis": []any{map[string]any{"label": "Get", "name": "get", "method": "GET",
			"url": provURL + "/echo?version=" + version, "authenticationKey": "hot",
			"headers": map[string]string{"Authorization": "Bearer {authorization.hot.token}", "X-Widget-Version": version}}},
	}
	if passportFile != "" {
		s["passport"] = map[string]any{"filePath": passportFile}
	}
	return string(must(json.Marshal(s)))
}

// wdHotSchema is wdSchema for the lab's provider, whose passport the
// hot tests bind.
func wdHotSchema(provURL, version string) string {
	return wdSchema(provURL, "custom:my-api-connector", version, "")
}

// wdStart starts a stack with the admin API at /admin/ (bearer
// adminToken) and the given extra widget packages, and binds wdInstance's
// "hot" key and the lab's and my-saas's keys to an active passport.
func wdStart(t *testing.T, extra map[string]map[string]string) *adminEnv {
	t.Helper()
	tokenFile := writeFile(t, "admin-token", adminToken+"\n")
	e := start(t, options{extraWidgets: extra,
		extraRoutes: "route /admin/* {\n\t\twidgetgate_admin {\n\t\t\ttoken_file " + tokenFile + "\n\t\t\tpublic_url " + lbURL + "\n\t\t}\n\t}"})
	token := "hot-token-CANARY-" + testenv.RandomHex(t, 8)
	e.provider.AddToken(token) // my-saas's API checks it
	e.vault.PutPassport(t, "pp-hot", "custom:my-api-connector", token)
	e.bind(t, wdInstance, map[string]any{"hot": "pp-hot", "labAuth": "pp-hot", "myApiAuth": "pp-hot"})
	return &adminEnv{env: e}
}

// wdDir is the widgets directory start made, read back from the config.
func wdDir(t *testing.T, e *env) string {
	t.Helper()
	for _, line := range strings.Split(e.config, "\n") {
		if dir, ok := strings.CutPrefix(strings.TrimSpace(line), "widgets_dir "); ok {
			return dir
		}
	}
	t.Fatal("no widgets_dir in the config")
	return ""
}

// wdCallVersion calls widget id's "get" API and returns the version the
// echoed request names; any other answer is an error.
func wdCallVersion(e *env, id string) (string, error) {
	r := e.tryCall("POST", "/sidecar/widgets/"+id+"/apis/get", `{}`, "X-Widget-Instance", wdInstance)
	if r.err != nil {
		return "", r.err
	}
	body, _ := r.json["body"].(map[string]any)
	if r.status != 200 || r.json["isSuccess"] != true || body == nil {
		return "", fmt.Errorf("%d %s", r.status, r.raw)
	}
	uri, _ := body["uri"].(string)
	hdr, _ := body["headers"].(map[string]any)
	v, ok := strings.CutPrefix(uri, "/echo?version=")
	if !ok || hdr["X-Widget-Version"] != v {
		return "", fmt.Errorf("URL %q and header %v are not of one version", uri, hdr["X-Widget-Version"])
	}
	return v, nil
}

// wdWaitVersion waits until widget id serves version.
func wdWaitVersion(t *testing.T, e *env, id, version string) {
	t.Helper()
	testenv.WaitFor(t, wdWatchDeadline, id+" to serve version "+version, func() error {
		v, err := wdCallVersion(e, id)
		if err == nil && v != version {
			err = fmt.Errorf("version %s serves", v)
		}
		return err
	})
}

// wdWaitUnknown waits until widget id is not served: its calls get the
// unknown-widget problem.
func wdWaitUnknown(t *testing.T, e *env, id string) {
	t.Helper()
	testenv.WaitFor(t, wdWatchDeadline, id+" to be unknown", func() error {
		r := e.tryCall("POST", "/sidecar/widgets/"+id+"/apis/get", `{}`, "X-Widget-Instance", wdInstance)
		if r.err != nil {
			return r.err
		}
		if r.status != 404 || r.json["code"] != "unknown_widget" {
			return fmt.Errorf("%d %s", r.status, r.raw)
		}
		return nil
	})
}

// wdRenameInto writes content to a staging file outside the widgets
// directory and renames it to dst: the package changes in one step, as
// deployment tools replace files, and the watcher sees one event.
func wdRenameInto(t *testing.T, dst string, content []byte) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), filepath.Base(dst))
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// wdZip is a zip of files, in name order.
func wdZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wdHotZip is a zip package of wdHotSchema.
func wdHotZip(t *testing.T, provURL, version string) []byte {
	return wdZip(t, map[string]string{"schema.json": wdHotSchema(provURL, version), "widget.html": "<html></html>"})
}

// wdCall is one call made under load.
type wdCall struct {
	start, end time.Time
	version    string
	err        error
}

// wdUnderLoad calls widget id's "get" from 8 workers while change runs,
// once 50 calls have answered. It goes on until at least 200 calls have
// answered and 100 of them started after the first call that saw
// version want, so that calls are in flight before, during and after the
// swap, whenever the watcher makes it.
func wdUnderLoad(t *testing.T, e *env, id, want string, change func()) []wdCall {
	t.Helper()
	var (
		mu       sync.Mutex
		out      []wdCall
		firstNew time.Time // end of the first call that saw want
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	counts := func() (total, afterNew int) {
		mu.Lock()
		defer mu.Unlock()
		for _, o := range out {
			if !firstNew.IsZero() && o.start.After(firstNew) {
				afterNew++
			}
		}
		return len(out), afterNew
	}
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				o := wdCall{start: time.Now()}
				o.version, o.err = wdCallVersion(e, id)
				o.end = time.Now()
				mu.Lock()
				out = append(out, o)
				if o.err == nil && o.version == want && (firstNew.IsZero() || o.end.Before(firstNew)) {
					firstNew = o.end
				}
				mu.Unlock()
			}
		})
	}
	defer halt() // also when a wait fails the test
	testenv.WaitFor(t, wdWatchDeadline, "50 calls before the change", func() error {
		if n, _ := counts(); n < 50 {
			return fmt.Errorf("%d calls", n)
		}
		return nil
	})
	change()
	testenv.WaitFor(t, wdWatchDeadline, "100 calls after the first to see version "+want, func() error {
		if n, after := counts(); n < 200 || after < 100 {
			return fmt.Errorf("%d calls, %d after the swap", n, after)
		}
		return nil
	})
	halt()
	return out
}

// TestWidgetsHotReplaceUnderLoad: a package replaced on disk while calls
// run (a folder's schema.json renamed over, a zip renamed over) is
// swapped in with no call failing, no call seeing half of each version,
// and no going back: a call that starts after one saw the new version
// sees it too.
func TestWidgetsHotReplaceUnderLoad(t *testing.T) {
	a := wdStart(t, map[string]map[string]string{"hotdir": {"schema.json": wdHotSchema("http://127.0.0.1:8931", "1")}})
	dir := wdDir(t, a.env)
	// The zip package is added while serving, which the replace then
	// exercises as a zip.
	wdRenameInto(t, filepath.Join(dir, "hotzip.zip"), wdHotZip(t, a.provURL, "1"))
	wdWaitVersion(t, a.env, "hotzip", "1")

	for _, tc := range []struct {
		name, id string
		replace  func()
	}{
		{"folder: schema.json renamed over", "hotdir", func() {
			wdRenameInto(t, filepath.Join(dir, "hotdir", "schema.json"), []byte(wdHotSchema(a.provURL, "2")))
		}},
		{"zip renamed over", "hotzip", func() {
			wdRenameInto(t, filepath.Join(dir, "hotzip.zip"), wdHotZip(t, a.provURL, "2"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := wdCallVersion(a.env, tc.id); err != nil || v != "1" {
				t.Fatalf("before the change: version %q, %v", v, err)
			}
			calls := wdUnderLoad(t, a.env, tc.id, "2", tc.replace)
			var failed []error
			seen := map[string]int{}
			var firstNew time.Time
			for _, c := range calls {
				if c.err != nil {
					failed = append(failed, c.err)
					continue
				}
				seen[c.version]++
				if c.version == "2" && (firstNew.IsZero() || c.end.Before(firstNew)) {
					firstNew = c.end
				}
			}
			if len(failed) > 0 {
				t.Errorf("%d of %d calls failed across the swap; first: %v", len(failed), len(calls), failed[0])
			}
			if seen["1"] == 0 || seen["2"] == 0 || len(seen) != 2 {
				t.Errorf("versions seen %v, want both 1 and 2 (else the swap did not happen under load)", seen)
			}
			back := 0
			for _, c := range calls {
				if c.err == nil && c.version == "1" && !firstNew.IsZero() && c.start.After(firstNew) {
					back++
				}
			}
			if back > 0 {
				t.Errorf("%d calls started after a call saw version 2 and got version 1", back)
			}
			if v, err := wdCallVersion(a.env, tc.id); err != nil || v != "2" {
				t.Errorf("after the swap: version %q, %v", v, err)
			}
			t.Logf("%d calls: %v", len(calls), seen)
		})
	}
}

// wdList is GET api/widgets: the widget ids serving and the problems
// by widget.
func wdList(t *testing.T, a *adminEnv) (ids []string, problems map[string]map[string]any) {
	t.Helper()
	r := a.api(t, a.gw, "GET", "widgets", "", adminToken)
	if r.status != 200 {
		t.Fatalf("GET api/widgets: %d %s", r.status, r.raw)
	}
	ws, _ := r.json["widgets"].([]any)
	for _, w := range ws {
		ids = append(ids, w.(map[string]any)["id"].(string))
	}
	ps, ok := r.json["problems"].([]any)
	if !ok {
		t.Fatalf("GET api/widgets has no problems list: %s", r.raw)
	}
	problems = map[string]map[string]any{}
	for _, p := range ps {
		pm := p.(map[string]any)
		problems[pm["widget"].(string)] = pm
	}
	return ids, problems
}

// wdLogLines is widgetgate's JSON log lines, parsed.
func wdLogLines(gw *testenv.Widgetgate) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(gw.Log(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestWidgetsBrokenReplacementKeepsOld: a replacement that fails
// validation leaves the previous version serving; GET api/widgets lists
// the problem, naming the file and the field, with serving: true, and the
// log says so. The fix then serves, and the problem is gone.
func TestWidgetsBrokenReplacementKeepsOld(t *testing.T) {
	a := wdStart(t, map[string]map[string]string{"steady": {"schema.json": wdHotSchema("http://127.0.0.1:8931", "1")}})
	schemaFile := filepath.Join(wdDir(t, a.env), "steady", "schema.json")
	serving := "1"
	for i, tc := range []struct {
		name   string
		broken string
		field  string // the field the problem names; "" for the file as a whole
	}{
		{"URL not http(s)", strings.Replace(wdHotSchema(a.provURL, "x"), `"url":"http:`, `"url":"ftp:`, 1), "authenticatedApis[0] (get).url"},
		{"header injecting another key's token", strings.Replace(wdHotSchema(a.provURL, "x"), "{authorization.hot.token}", "{authorization.other.token}", 1),
			"authenticatedApis[0] (get).headers.Authorization"},
		{"not JSON", `{"authentications": [`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusedBefore := len(wdRefusedLines(a.gw, "steady"))
			wdRenameInto(t, schemaFile, []byte(tc.broken))

			want := schemaFile + ": "
			if tc.field != "" {
				want += tc.field + ": "
			}
			var problem map[string]any
			testenv.WaitFor(t, wdWatchDeadline, "the problem to be listed", func() error {
				_, ps := wdList(t, a)
				if problem = ps["steady"]; problem == nil {
					return errors.New("no problem listed for steady")
				}
				return nil
			})
			errs, _ := problem["errors"].([]any)
			if len(errs) != 1 || !strings.HasPrefix(fmt.Sprint(errs[0]), want) || len(fmt.Sprint(errs[0])) == len(want) {
				t.Errorf("problem errors %v, want one starting %q and saying what is wrong", errs, want)
			}
			if problem["serving"] != true {
				t.Errorf("problem %v: want serving true", problem)
			}
			if since, err := time.Parse(time.RFC3339, fmt.Sprint(problem["since"])); err != nil || time.Since(since) > time.Minute {
				t.Errorf("problem since %v: %v", problem["since"], err)
			}
			for range 20 { // the problem is known: the old version must be what serves
				if v, err := wdCallVersion(a.env, "steady"); err != nil || v != serving {
					t.Fatalf("with a broken replacement on disk: version %q, %v; want %s", v, err, serving)
				}
			}
			testenv.WaitFor(t, wdWatchDeadline, "the refusal in the log", func() error {
				if got := wdRefusedLines(a.gw, "steady"); len(got) != refusedBefore+1 {
					return fmt.Errorf("%d refusal lines, want %d", len(got), refusedBefore+1)
				}
				return nil
			})
			line := wdRefusedLines(a.gw, "steady")[refusedBefore]
			if !strings.Contains(fmt.Sprint(line["errors"]), want) {
				t.Errorf("log line %v does not name %q", line, want)
			}

			fixed := fmt.Sprint(i + 2)
			wdRenameInto(t, schemaFile, []byte(wdHotSchema(a.provURL, fixed)))
			wdWaitVersion(t, a.env, "steady", fixed)
			serving = fixed
			ids, ps := wdList(t, a)
			if ps["steady"] != nil || !slices.Contains(ids, "steady") {
				t.Errorf("after the fix: widgets %v, problems %v", ids, ps)
			}
		})
	}
}

// wdRefusedLines is the log lines refusing a version of widget id while its
// previous one serves.
func wdRefusedLines(gw *testenv.Widgetgate, id string) []map[string]any {
	var out []map[string]any
	for _, l := range wdLogLines(gw) {
		if l["widget"] == id && l["level"] == "error" && strings.Contains(fmt.Sprint(l["msg"]), "refused") &&
			strings.Contains(fmt.Sprint(l["msg"]), "previous version keeps serving") {
			out = append(out, l)
		}
	}
	return out
}

// TestWidgetsAddRemove: a package added to the directory becomes
// callable (its calls were the unknown-widget problem before); removed,
// it is unknown again. The other widgets serve throughout.
func TestWidgetsAddRemove(t *testing.T) {
	a := wdStart(t, nil)
	dir := wdDir(t, a.env)
	others := func(t *testing.T) {
		t.Helper()
		for _, p := range []string{"/sidecar/widgets/lab/apis/echo", "/sidecar/widgets/my-saas/apis/getData"} {
			if r := a.tryCall("POST", p, `{}`, "X-Widget-Instance", wdInstance); r.err != nil || r.status != 200 || r.json["isSuccess"] != true {
				t.Errorf("%s: %d %v %s", p, r.status, r.err, r.raw)
			}
		}
	}
	others(t)
	for _, tc := range []struct {
		name, id string
		add      func(id string)
		remove   func(id string)
	}{
		{"folder", "newdir", func(id string) {
			// Made aside and renamed in: the folder appears whole.
			staged := filepath.Join(t.TempDir(), id)
			os.Mkdir(staged, 0o755)
			os.WriteFile(filepath.Join(staged, "schema.json"), []byte(wdHotSchema(a.provURL, "1")), 0o644)
			if err := os.Rename(staged, filepath.Join(dir, id)); err != nil {
				t.Fatal(err)
			}
		}, func(id string) {
			if err := os.RemoveAll(filepath.Join(dir, id)); err != nil { // as rm -r does: file by file
				t.Fatal(err)
			}
		}},
		{"zip", "newzip", func(id string) {
			wdRenameInto(t, filepath.Join(dir, id+".zip"), wdHotZip(t, a.provURL, "1"))
		}, func(id string) {
			if err := os.Remove(filepath.Join(dir, id+".zip")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wdWaitUnknown(t, a.env, tc.id) // already so: no wait
			tc.add(tc.id)
			wdWaitVersion(t, a.env, tc.id, "1")
			if ids, ps := wdList(t, a); !slices.Contains(ids, tc.id) || len(ps) != 0 {
				t.Errorf("after adding: widgets %v, problems %v", ids, ps)
			}
			others(t)

			tc.remove(tc.id)
			wdWaitUnknown(t, a.env, tc.id)
			if ids, ps := wdList(t, a); slices.Contains(ids, tc.id) || len(ps) != 0 {
				t.Errorf("after removing: widgets %v, problems %v", ids, ps)
			}
			others(t)
		})
	}
	for _, l := range wdLogLines(a.gw) {
		if l["level"] == "error" {
			t.Errorf("error logged: %v", l)
		}
	}
}

// wdDirState is every file under dir with a hash of its content.
func wdDirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wdAuditLines is the audit log's lines of widget actions.
func wdAuditLines(gw *testenv.Widgetgate) []map[string]any {
	var out []map[string]any
	for _, l := range wdLogLines(gw) {
		if l["logger"] == "widgetgate.audit" && strings.HasPrefix(fmt.Sprint(l["action"]), "widget.") {
			out = append(out, l)
		}
	}
	return out
}

// wdZeros is an endless reader of zero bytes, for bodies too large to hold.
type wdZeros struct{}

func (wdZeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// wdUpload is one admin request for the upload table.
type wdUpload struct {
	method, id  string
	contentType string
	body        []byte    // or:
	stream      io.Reader // a body of unknown length (chunked)
	declared    int64     // or: this many zero bytes, with their Content-Length
}

func (u wdUpload) send(t *testing.T, a *adminEnv) reply {
	t.Helper()
	var body io.Reader = bytes.NewReader(u.body)
	switch {
	case u.stream != nil:
		body = u.stream // not a type whose length http.NewRequest knows: sent chunked
	case u.declared > 0:
		body = io.LimitReader(wdZeros{}, u.declared)
	case u.body == nil:
		body = nil
	}
	req, err := http.NewRequest(u.method, a.gw.URL+"/admin/api/widgets/"+u.id, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if u.contentType != "" {
		req.Header.Set("Content-Type", u.contentType)
	}
	if u.declared > 0 {
		// No "Expect: 100-continue": Caddy holds any early answer to one
		// until the client gives up waiting and sends the body anyway.
		req.ContentLength = u.declared
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	json.Unmarshal(raw, &r.json)
	return r
}

// TestWidgetsUploadAPI: PUT api/widgets/{id} installs a valid package
// (creating the passport it bundles, ready to connect) and refuses every
// other with the right problem and nothing written; DELETE removes one.
// Each action writes one audit line, and no secret reaches a log or an
// answer.
func TestWidgetsUploadAPI(t *testing.T) {
	a := wdStart(t, nil)
	dir := wdDir(t, a.env)
	secret := "upl-secret-CANARY-" + testenv.RandomHex(t, 8)
	const name = "upl-crm"
	passportDoc := crmPassport(name, a.provURL, map[string]any{"clientSecret": secret, "clientId": "upl-client"})
	pkg := func(version string, extra map[string]string) []byte {
		files := map[string]string{"widget.html": "<html></html>", "passport/" + name + ".json": passportDoc,
			"schema.json": wdSchema(a.provURL, "custom:"+name, version, "passport/"+name+".json")}
		maps.Copy(files, extra)
		return wdZip(t, files)
	}
	good := pkg("1", nil)
	// Two problems in one API: no name, and a URL template left open.
	twoErrors := wdZip(t, map[string]string{"schema.json": strings.Replace(strings.Replace(
		wdHotSchema(a.provURL, "1"), `"name":"get",`, "", 1), "/echo?version=1", "/echo/{unclosed", 1)})
	many := map[string]string{"schema.json": wdHotSchema(a.provURL, "1")}
	for i := range wdZipEntryLimit {
		many[fmt.Sprintf("assets/f%d.txt", i)] = ""
	}
	var answers bytes.Buffer // every admin answer, for the canary scan
	var createdPassport string

	type row struct {
		name    string
		req     wdUpload
		status  int
		code    string // of the problem; "" on success
		action  string
		target  string
		outcome string
		check   func(t *testing.T, r reply) // more checks; refusals are checked for an unchanged directory anyway
	}
	upload := func(id string, body []byte) wdUpload {
		return wdUpload{method: "PUT", id: id, contentType: "application/zip", body: body}
	}
	rows := []row{
		{name: "good package", req: upload("uploaded", good), status: 200, action: "widget.upload", target: "uploaded", outcome: "ok",
			check: func(t *testing.T, r reply) {
				w, _ := r.json["widget"].(map[string]any)
				p, _ := r.json["passport"].(map[string]any)
				if w["id"] != "uploaded" || w["bundledProvider"] != "custom:"+name || p == nil || p["provider"] != "custom:"+name || p["status"] != "inactive" {
					t.Fatalf("answer %s", r.raw)
				}
				createdPassport = p["id"].(string)
				if b, err := os.ReadFile(filepath.Join(dir, "uploaded.zip")); err != nil || !bytes.Equal(b, good) {
					t.Errorf("uploaded.zip on disk is not the upload (%v)", err)
				}
				// Listed, ready to connect: the bundled passport's client is used.
				list := a.api(t, a.gw, "GET", "passports", "", adminToken)
				answers.Write(list.raw)
				found := false
				for _, lp := range list.json["passports"].([]any) {
					lp := lp.(map[string]any)
					found = found || lp["id"] == createdPassport && lp["status"] == "inactive" && lp["provider"] == "custom:"+name
				}
				if !found {
					t.Errorf("passport %s not listed as inactive: %s", createdPassport, list.raw)
				}
				c := a.api(t, a.gw, "POST", "passports/"+createdPassport+"/connect", "", adminToken)
				answers.Write(c.raw)
				u, _ := c.json["authorizeUrl"].(string)
				if c.status != 200 || !strings.HasPrefix(u, a.provURL+"/authorize?") || !strings.Contains(u, "client_id=upl-client") {
					t.Errorf("connect: %d %s", c.status, c.raw)
				}
				// Callable at once, with a connected passport of its provider.
				a.vault.PutPassport(t, "pp-upl", "custom:"+name, "upl-token-CANARY-"+testenv.RandomHex(t, 8))
				a.bind(t, wdInstance, map[string]any{"hot": "pp-upl"})
				if v, err := wdCallVersion(a.env, "uploaded"); err != nil || v != "1" {
					t.Errorf("calling the uploaded widget: version %q, %v", v, err)
				}
			}},
		{name: "re-upload replaces it and reuses the passports", req: upload("uploaded", pkg("2", nil)), status: 200, action: "widget.upload", target: "uploaded", outcome: "ok",
			check: func(t *testing.T, r reply) {
				// Either passport of the provider will do; none is created.
				if p, _ := r.json["passport"].(map[string]any); p == nil || p["id"] != createdPassport && p["id"] != "pp-upl" {
					t.Errorf("passport %v, want an existing one", p)
				}
				if n := wdCountPassports(t, a, "custom:"+name); n != 2 {
					t.Errorf("%d passports of custom:%s, want the 2 there were", n, name)
				}
				if v, err := wdCallVersion(a.env, "uploaded"); err != nil || v != "2" {
					t.Errorf("after the re-upload: version %q, %v", v, err)
				}
			}},
		{name: "every error listed", req: upload("broken", twoErrors), status: 422, code: "invalid_package", action: "widget.upload", target: "broken", outcome: "invalid_package",
			check: func(t *testing.T, r reply) {
				got := map[string]bool{}
				for _, e := range r.json["errors"].([]any) {
					e := e.(map[string]any)
					msg, _ := e["message"].(string)
					got[fmt.Sprint(e["file"], " ", e["field"])] = msg != ""
				}
				for _, want := range []string{"broken.zip/schema.json authenticatedApis[0].name", "broken.zip/schema.json authenticatedApis[0].url"} {
					if !got[want] {
						t.Errorf("no error (with a message) for %s: %s", want, r.raw)
					}
				}
			}},
		{name: "traversal entry", req: upload("evil", pkg("1", map[string]string{"../evil/schema.json": wdHotSchema(a.provURL, "1")})), status: 422, code: "invalid_package",
			action: "widget.upload", target: "evil", outcome: "invalid_package",
			check: func(t *testing.T, r reply) {
				if !bytes.Contains(r.raw, []byte(`../evil/schema.json`)) {
					t.Errorf("the problem does not name the entry: %s", r.raw)
				}
				if _, err := os.Stat(filepath.Join(dir, "..", "evil")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("something was written beside the widgets directory: %v", err)
				}
			}},
		{name: "more entries than the limit", req: upload("many", wdZip(t, many)), status: 422, code: "invalid_package", action: "widget.upload", target: "many", outcome: "invalid_package",
			check: func(t *testing.T, r reply) {
				if !bytes.Contains(r.raw, []byte(fmt.Sprintf("more than %d entries", wdZipEntryLimit))) {
					t.Errorf("%s", r.raw)
				}
			}},
		{name: "oversize, by its Content-Length", req: wdUpload{method: "PUT", id: "huge", contentType: "application/zip", declared: wdPackageLimit + 1},
			status: 413, code: "package_too_large", action: "widget.upload", target: "huge", outcome: "package_too_large"},
		{name: "oversize, chunked", req: wdUpload{method: "PUT", id: "huge", contentType: "application/zip", stream: io.LimitReader(wdZeros{}, wdPackageLimit+1)},
			status: 413, code: "package_too_large", action: "widget.upload", target: "huge", outcome: "package_too_large"},
		{name: "wrong content type", req: wdUpload{method: "PUT", id: "typed", contentType: "application/octet-stream", body: good},
			status: 415, code: "unsupported_media_type", action: "widget.upload", target: "typed", outcome: "unsupported_media_type"},
		{name: "invalid id", req: upload(".hidden", good), status: 400, code: "invalid_id", action: "widget.upload", target: "", outcome: "invalid_id"},
		{name: "a folder package's id", req: upload("lab", good), status: 409, code: "widget_is_folder", action: "widget.upload", target: "lab", outcome: "widget_is_folder"},
		{name: "delete", req: wdUpload{method: "DELETE", id: "uploaded"}, status: 204, action: "widget.delete", target: "uploaded", outcome: "ok",
			check: func(t *testing.T, r reply) {
				wdWaitUnknown(t, a.env, "uploaded") // no wait: gone when DELETE answers
				if _, err := os.Stat(filepath.Join(dir, "uploaded.zip")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("uploaded.zip still there: %v", err)
				}
				if ids, _ := wdList(t, a); slices.Contains(ids, "uploaded") {
					t.Errorf("still listed: %v", ids)
				}
			}},
		{name: "delete again", req: wdUpload{method: "DELETE", id: "uploaded"}, status: 404, code: "unknown_widget", action: "widget.delete", target: "uploaded", outcome: "unknown_widget"},
	}
	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			before := wdDirState(t, dir)
			audited := len(wdAuditLines(a.gw))
			r := rw.req.send(t, a)
			answers.Write(r.raw)
			if r.status != rw.status || (rw.code != "" && r.json["code"] != rw.code) {
				t.Fatalf("%d %s, want %d %s", r.status, r.raw, rw.status, rw.code)
			}
			if rw.code != "" {
				if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
				if after := wdDirState(t, dir); !maps.Equal(after, before) {
					t.Errorf("the widgets directory changed on a refusal:\nbefore %v\nafter  %v", before, after)
				}
			}
			if rw.check != nil {
				rw.check(t, r)
			}
			testenv.WaitFor(t, 10*time.Second, "the audit line", func() error {
				if n := len(wdAuditLines(a.gw)); n != audited+1 {
					return fmt.Errorf("%d new audit lines, want 1", n-audited)
				}
				return nil
			})
			l := wdAuditLines(a.gw)[audited]
			if l["action"] != rw.action || l["target"] != rw.target || l["outcome"] != rw.outcome || l["actor"] != "admin" || l["auth"] != "token" {
				t.Errorf("audit line %v, want action %s target %q outcome %s", l, rw.action, rw.target, rw.outcome)
			}
			if rw.name == "good package" {
				if l["bytes"] != float64(len(good)) || l["passport_created"] != createdPassport {
					t.Errorf("audit line %v: want bytes %d and passport_created %s", l, len(good), createdPassport)
				}
			} else if l["passport_created"] != nil {
				t.Errorf("audit line %v: a passport was created", l)
			}
		})
	}

	if n := len(wdAuditLines(a.gw)); n != len(rows) {
		t.Errorf("%d widget audit lines for %d actions", n, len(rows))
	}
	// The canaries: the bundled client secret, the admin token, the call
	// tokens; every log line and admin answer is scanned.
	everything := append([]byte(a.gw.Log()), answers.Bytes()...)
	// "token-CANARY-" is what every call token of these tests starts with.
	for what, s := range map[string]string{"client secret": secret, "admin token": adminToken, "call token": "token-CANARY-"} {
		if n := countLeaks(everything, s); n != 0 {
			t.Errorf("the %s appears %d times in the log or admin answers", what, n)
		}
	}
	if !strings.Contains(passportDoc, secret) {
		t.Fatal("the canary is not in the bundled passport: the scan proves nothing")
	}
}

// wdCountPassports is how many passports of provider GET api/passports lists.
func wdCountPassports(t *testing.T, a *adminEnv, provider string) int {
	t.Helper()
	n := 0
	for _, p := range a.api(t, a.gw, "GET", "passports", "", adminToken).json["passports"].([]any) {
		if p.(map[string]any)["provider"] == provider {
			n++
		}
	}
	return n
}
