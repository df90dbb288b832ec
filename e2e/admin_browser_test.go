package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
	"github.com/widgetgate/widgetgate/internal/testenv/authserver"
)

// TestAdminBrowser drives the operator page (widgetgate_admin) in headless
// Chromium, through e2e/browser/admin.test.mjs (playwright-core), as an
// administrator would: give the admin token, click Connect on a bundled
// passport, click Allow in the provider's pop-up (the stand-in
// authorization server), see the passport Active with the account's
// email, bind it to a widget instance on the page; then, after this test
// has made a widget call with the token the provider issued, Disconnect
// it and see it Inactive. Then the widget packages: the refused ones
// (changed on disk under the running gateway) are listed with every
// error; a package uploaded through the page's file input serves and its
// bundled passport is ready to connect; a package with two problems is
// refused with both listed and nothing written; 409 and 413 say why;
// Delete removes packages. Last, a passport the provider stops accepting
// (its refresh answered invalid_grant) raises the reconnect banner, which
// goes once it is reconnected in the pop-up. Only that passport is
// written to Vault by hand. Last, the configuration form of a widget
// declaring fields (boardSchema, admin_config_browser_test.go) on the
// bound instance: defaults shown, markup in labels shown as text, a save
// with a bad number and a too long text refused with each problem next to
// its field and Vault unchanged, the fixed values saved with their JSON
// types (in Vault, and as the widget sees them), then reset to the
// defaults. Screenshots go to e2e/browser/out/admin/.
func TestAdminBrowser(t *testing.T) {
	node, chromium := browserDeps(t)

	const (
		widget   = "crm-desk" // a test-only widget package bundling its passport
		provider = "custom:" + widget
		email    = "ada@example.com"
		name     = "Ada Lovelace"
		instance = "reception"
	)

	// The stand-in authorization server; every access token it issues is
	// made valid at the API stand-in once that exists.
	var (
		mu     sync.Mutex
		issued []string
		accept func(string)
	)
	as := authserver.New(authserver.Config{
		ClientID: asClientID, ClientSecret: asClientSecret, AppName: "Acme CRM",
		Profile: map[string]any{"data": map[string]any{"mail": email, "uid": 42, "display": name}},
		Issued: func(tok string) {
			mu.Lock()
			issued = append(issued, tok)
			f := accept
			mu.Unlock()
			if f != nil {
				f(tok)
			}
		},
	})
	asSrv := httptest.NewServer(as)
	t.Cleanup(asSrv.Close)

	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	token := testenv.RandomHex(t, 16)
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The browser follows the provider's redirect, so the public URL is
	// this gateway's own address ({addr} is filled in by StartWidgetgate).
	e := start(t, options{
		extraWidgets: map[string]map[string]string{widget: {
			"schema.json":                  crmSchema(widget),
			"passport/" + widget + ".json": displayNamed(t, crmPassport(widget, asSrv.URL, nil), "Acme CRM"),
		}, boardWidget: {"schema.json": boardSchema, "widget.html": "<p>board</p>"}},
		extraRoutes: "route /admin/* {\n\t\twidgetgate_admin {\n\t\t\ttoken_file " + tokenFile + "\n\t\t\tpublic_url http://{addr}/admin\n\t\t}\n\t}",
	})
	mu.Lock()
	accept = e.provider.AddToken
	mu.Unlock()
	lastIssued := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(issued) == 0 {
			return ""
		}
		return issued[len(issued)-1]
	}
	callPath := "/sidecar/widgets/" + widget + "/apis/getData"
	var answers bytes.Buffer // every admin API answer this test reads, for the canary check

	// Widget packages: the ZIPs the page uploads, and two packages refused
	// on disk before the page opens.
	uploads := uploadPackages(t, e.provURL, asSrv.URL)
	refusePackages(t, e, token, &answers)
	const (
		lobbyPassport = "pp-lobby-crm"
		lobbyName     = "Lobby CRM <img src=x>" // markup, shown as text
		lobbyInstance = "banner-screen"
		lobbyRefresh  = "rt-unknown-to-the-provider"
	)

	out, err := filepath.Abs(filepath.Join("browser", "out", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(out)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("browser", "admin.test.mjs"))
	cmd.Env = append(os.Environ(),
		"ADMIN_URL="+e.gw.URL+"/admin/", "ADMIN_TOKEN="+token,
		"PROVIDER="+provider, "EXPECT_EMAIL="+email, "EXPECT_NAME="+name,
		"BIND_INSTANCE="+instance, "BIND_AUTH_KEY=crm", "PAUSE_AFTER_CONNECT=1",
		"UPLOAD_DIR="+uploads, "UPLOAD_GOOD="+uploadGood, "UPLOAD_BAD="+uploadBad, "UPLOAD_HUGE="+uploadHuge,
		"FOLDER_WIDGET="+widget, "REFUSED="+refusedNew+":not-serving,"+refusedOlder+":serving",
		"RECONNECT_PASSPORT="+lobbyPassport, "RECONNECT_NAME="+lobbyName,
		"CONFIG_INSTANCE="+instance, "CONFIG_WIDGET="+boardWidget,
		"OUT_DIR="+out, "CHROMIUM_BIN="+chromium)
	cmd.WaitDelay = 10 * time.Second
	var output lockedBuffer
	cmd.Stderr = &output
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	reconnect := make(chan struct{}, 1)
	configStage := make(chan string, 8)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			output.Write([]byte(line + "\n"))
			if id, ok := strings.CutPrefix(line, "READY passport="); ok {
				select {
				case ready <- id:
				default:
				}
			}
			if line == "READY reconnect" {
				select {
				case reconnect <- struct{}{}:
				default:
				}
			}
			if stage, ok := strings.CutPrefix(line, "READY config-"); ok {
				select {
				case configStage <- stage:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()

	// The page has connected the passport and bound it: check what it did,
	// and make a widget call with it, before the page disconnects it.
	var id, refresh string
	select {
	case id = <-ready:
	case <-scanned:
	}
	if id != "" {
		p := adminPageAPI(t, e, token, "GET", "passports/"+id, &answers)
		acct, _ := p.json["account"].(map[string]any)
		if p.status != 200 || p.json["status"] != "active" || p.json["provider"] != provider || acct["email"] != email || acct["name"] != name || acct["id"] != "42" {
			t.Errorf("passport after connecting on the page: %d %s", p.status, p.raw)
		}
		b := adminPageAPI(t, e, token, "GET", "bindings", &answers)
		type boundInstance struct {
			Instance string            `json:"instance"`
			Bindings map[string]string `json:"bindings"`
		}
		var bound struct {
			Instances []boundInstance `json:"instances"`
		}
		json.Unmarshal(b.raw, &bound)
		if !slices.ContainsFunc(bound.Instances, func(i boundInstance) bool { return i.Instance == instance && i.Bindings["crm"] == id }) {
			t.Errorf("bindings after saving them on the page: %d %s", b.status, b.raw)
		}
		rec, err := e.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/"+id)
		if err != nil {
			t.Errorf("the connected passport is not in Vault: %v", err)
		} else {
			refresh, _ = rec.Data["refresh_token"].(string)
			if at, _ := rec.Data["access_token"].(string); at == "" || at != lastIssued() || refresh == "" {
				t.Errorf("Vault holds other tokens than the provider issued (fields %v)", keys(rec.Data))
			}
		}

		// The whole product path: a widget call with the passport connected
		// and bound on the page, carrying the token the provider issued.
		e.provider.Reset()
		r := e.call(t, "POST", callPath, `{}`, "X-Widget-Instance", instance)
		if r.status != 200 || r.json["isSuccess"] != true {
			t.Errorf("widget call after connecting on the page: %d %s", r.status, r.raw)
		}
		reqs := e.provider.Requests()
		if len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "Bearer "+lastIssued() {
			t.Errorf("the provider saw %d requests; want one carrying the issued token", len(reqs))
		}
	}
	io.WriteString(stdin, "continue\n")

	// The page has done the widget packages and waits for a passport that
	// needs reconnecting: make one, the way a provider does it.
	reconnected := false
	select {
	case <-reconnect:
		needReconnecting(t, e, token, &answers, lobbyPassport, provider, lobbyName, lobbyRefresh, lobbyInstance, callPath)
		io.WriteString(stdin, "continue\n")
		reconnected = true
	case <-scanned:
	}
	// Last, the configuration form: Vault and the widget's view at each
	// stage the page reports, until the script ends.
	stages := followConfigForm(t, e, instance, configStage, scanned, func() { io.WriteString(stdin, "continue\n") })
	stdin.Close()
	<-scanned
	err = cmd.Wait()
	t.Logf("admin.test.mjs:\n%s", output.String())
	if err != nil {
		t.Fatalf("the operator page check failed (%v); screenshots and the browser console are in %s", err, out)
	}
	if id == "" {
		t.Fatal("admin.test.mjs finished without reporting a connected passport")
	}

	// Disconnected on the page: revoked at the provider, tokens gone from
	// Vault, and the widget call refused at once.
	if p := adminPageAPI(t, e, token, "GET", "passports/"+id, &answers); p.json["status"] != "inactive" {
		t.Errorf("passport after disconnecting on the page: %d %s", p.status, p.raw)
	}
	rec, err := e.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/"+id)
	if err != nil {
		t.Errorf("the passport is gone from Vault: %v", err)
	} else if rec.Data["access_token"] != nil || rec.Data["refresh_token"] != nil {
		t.Errorf("tokens left in Vault after disconnecting: %v", keys(rec.Data))
	}
	if got := as.Revoked(); refresh != "" && !slices.Contains(got, refresh) {
		t.Errorf("the provider revoked %d tokens, not the passport's refresh token", len(got))
	}
	if r := e.call(t, "POST", callPath, `{}`, "X-Widget-Instance", instance); r.status != 401 {
		t.Errorf("widget call after disconnecting: %d %s", r.status, r.raw)
	}

	// The widget packages, as the page left them; the passport reconnected
	// on the page serves its instance again.
	checkUploadsAfter(t, e, token, &answers)
	if want := []string{"start", "refused", "saved", "reset"}; !slices.Equal(stages, want) {
		t.Errorf("admin.test.mjs paused at the configuration stages %q, want %q", stages, want)
	}
	if !reconnected {
		t.Error("admin.test.mjs finished without asking for a passport that needs reconnecting")
	} else {
		if p := adminPageAPI(t, e, token, "GET", "passports/"+lobbyPassport, &answers); p.json["status"] != "active" {
			t.Errorf("%s after reconnecting on the page: %d %s", lobbyPassport, p.status, p.raw)
		}
		if r := e.call(t, "POST", callPath, `{}`, "X-Widget-Instance", lobbyInstance); r.status != 200 || r.json["isSuccess"] != true {
			t.Errorf("widget call after reconnecting %s on the page: %d %s", lobbyPassport, r.status, r.raw)
		}
	}

	// Canary: no token or secret in what the admin API answered, in
	// widgetgate's logs, or in the page's console.
	for _, path := range []string{"providers", "passports", "widgets", "bindings", "instances/" + instance + "/config/" + boardWidget} {
		adminPageAPI(t, e, token, "GET", path, &answers)
	}
	console, _ := os.ReadFile(filepath.Join(out, "console.log"))
	mu.Lock()
	secrets := append([]string{asClientSecret, refresh, lobbyRefresh, "at-expired-" + lobbyPassport}, issued...)
	mu.Unlock()
	log := e.gw.FinalLog(t)
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if bytes.Contains(answers.Bytes(), []byte(s)) || strings.Contains(log, s) || bytes.Contains(console, []byte(s)) {
			t.Errorf("a token or secret appears in admin answers, logs or the browser console")
		}
	}
	if strings.Contains(log, token) {
		t.Error("the admin token appears in widgetgate's log")
	}

	for _, shot := range []string{"admin-active.png", "admin-inactive.png", "admin-refused-packages.png",
		"admin-upload-ok.png", "admin-upload-refused.png", "admin-reconnect-banner.png", "admin-reconnected.png",
		"admin-config-defaults.png", "admin-config-refused.png", "admin-config-saved.png", "admin-config-reset.png"} {
		if fi, err := os.Stat(filepath.Join(out, shot)); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s missing: %v", shot, err)
		}
	}
}

// adminPageAPI calls the admin API of e with the admin token, appending
// the answer to seen.
func adminPageAPI(t *testing.T, e *env, token, method, path string, seen *bytes.Buffer) reply {
	t.Helper()
	req, err := http.NewRequest(method, e.gw.URL+"/admin/api/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	seen.Write(raw)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	json.Unmarshal(raw, &r.json)
	return r
}

// displayNamed sets the display name of a custom passport file.
func displayNamed(t *testing.T, doc, display string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	m["name"] = display
	m["customApplicationInfo"].(map[string]any)["displayName"] = display
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
