package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// The widget packages TestAdminBrowser uploads, deletes and finds refused
// through the operator page (e2e/browser/admin.test.mjs).
const (
	uploadGood   = "desk-notes" // bundles its passport, custom:desk-notes
	uploadBad    = "bad-sign"   // two problems: a hostile method and a hostile header name
	uploadHuge   = "huge-sign"  // one byte over the upload bound
	refusedNew   = "broken-sign"
	refusedOlder = "lab" // its newer version is refused; the older one serves
)

// uploadPackages writes the ZIPs the page uploads into a folder of their
// own, named <widgetId>.zip as an administrator would have them, and
// returns that folder.
func uploadPackages(t *testing.T, provURL, asURL string) string {
	t.Helper()
	dir := t.TempDir()
	writeZip(t, filepath.Join(dir, uploadGood+".zip"), provURL, map[string]string{
		"schema.json":                      crmSchema(uploadGood),
		"passport/" + uploadGood + ".json": displayNamed(t, crmPassport(uploadGood, asURL, nil), "Desk Notes"),
		"index.html":                       "<!doctype html><title>Desk notes</title>",
	})
	// Everything in a problem is shown with textContent: the method and the
	// header name are markup that must stay text.
	writeZip(t, filepath.Join(dir, uploadBad+".zip"), provURL, map[string]string{"schema.json": `{
	  "authentications": [{"authenticationType": "passport", "authKey": "k", "metadata": {"passportProvider": "google"}}],
	  "authenticatedApis": [{"name": "getData", "url": "http://127.0.0.1:8931/v1/data", "method": "<img src=x onerror=window.__pwned=1>",
	    "authenticationKey": "k", "headers": {"Authorization": "Bearer {authorization.k.token}", "<b>X-Bold</b>": "1"}}]}`})
	huge, err := os.Create(filepath.Join(dir, uploadHuge+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	// 64 MiB + 1 (schema.MaxZipBytes, which e2e cannot import): refused
	// with 413 by its Content-Length, before it is read.
	if err := huge.Truncate(64<<20 + 1); err != nil {
		t.Fatal(err)
	}
	huge.Close()
	return dir
}

// writeZip writes a widget package ZIP, pointing http://127.0.0.1:8931 at
// provURL as writeExtraWidgets does.
func writeZip(t *testing.T, path, provURL string, files map[string]string) {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(strings.ReplaceAll(files[name], "http://127.0.0.1:8931", provURL)))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// widgetsDir is the widgets directory e serves, from its Caddyfile.
func widgetsDir(t *testing.T, e *env) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*widgets_dir\s+(\S+)\s*$`).FindStringSubmatch(e.config)
	if m == nil {
		t.Fatal("no widgets_dir in the Caddyfile")
	}
	return m[1]
}

// refusePackages changes the widgets directory under the running
// widgetgate, as an operator copying files would: a new package that is
// broken (refused, nothing serves), and a broken newer version of the lab
// widget (refused, the older one keeps serving). It waits until the admin
// API lists both problems.
func refusePackages(t *testing.T, e *env, token string, seen *bytes.Buffer) {
	t.Helper()
	dir := widgetsDir(t, e)
	tmp := filepath.Join(dir, ".copying-"+refusedNew+".zip") // names starting with "." are skipped
	writeZip(t, tmp, e.provURL, map[string]string{"schema.json": `{
	  "authentications": [],
	  "authenticatedApis": [{"name": "show", "url": "ftp://signs.example.com/x", "method": "GET", "authenticationKey": "nope"}]}`})
	if err := os.Rename(tmp, filepath.Join(dir, refusedNew+".zip")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, refusedOlder, "schema.json"), []byte(`{"authenticatedApis": "not a list"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "both refused packages in api/widgets", func() error {
		var got struct {
			Problems []struct {
				Widget  string   `json:"widget"`
				Serving bool     `json:"serving"`
				Errors  []string `json:"errors"`
			} `json:"problems"`
		}
		json.Unmarshal(adminPageAPI(t, e, token, "GET", "widgets", seen).raw, &got)
		found := 0
		for _, p := range got.Problems {
			if (p.Widget == refusedNew && !p.Serving || p.Widget == refusedOlder && p.Serving) && len(p.Errors) > 0 {
				found++
			}
		}
		if found != 2 {
			return errors.New("not yet")
		}
		return nil
	})
}

// needReconnecting stores an active passport of provider whose access
// token has expired and whose refresh token the authorization server
// does not know, binds it, and makes a widget call: widgetgate's refresh
// is answered invalid_grant and the passport becomes reconnect_required,
// as in TestWebhooksOnePerTransitionAcrossReplicas.
func needReconnecting(t *testing.T, e *env, token string, seen *bytes.Buffer, id, provider, display, refresh, instance, callPath string) {
	t.Helper()
	e.vault.Put(t, "widgetgate/passports/"+id, map[string]any{"provider": provider, "status": "active", "display_name": display,
		"access_token": "at-expired-" + id, "token_type": "Bearer", "refresh_token": refresh,
		"expiry": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
	e.bind(t, instance, map[string]any{"crm": id})
	if r := e.call(t, "POST", callPath, `{}`, "X-Widget-Instance", instance); r.status != 401 {
		t.Errorf("widget call with a refresh token the provider refuses: %d %s", r.status, r.raw)
	}
	testenv.WaitFor(t, 10*time.Second, id+" reconnect_required", func() error {
		if p := adminPageAPI(t, e, token, "GET", "passports/"+id, seen); p.json["status"] != "reconnect_required" {
			return errors.New("not yet")
		}
		return nil
	})
}

// checkUploadsAfter checks, through the admin API and on disk, what the
// page did to the widget packages.
func checkUploadsAfter(t *testing.T, e *env, token string, seen *bytes.Buffer) {
	t.Helper()
	var got struct {
		Widgets []struct {
			ID string `json:"id"`
		} `json:"widgets"`
		Problems []struct {
			Widget string `json:"widget"`
		} `json:"problems"`
	}
	json.Unmarshal(adminPageAPI(t, e, token, "GET", "widgets", seen).raw, &got)
	for _, w := range got.Widgets {
		if w.ID == uploadBad || w.ID == uploadHuge || w.ID == uploadGood {
			t.Errorf("widget %s is serving after the page's uploads and deletes", w.ID)
		}
	}
	for _, p := range got.Problems {
		if p.Widget == refusedNew {
			t.Errorf("the refused package %s is still listed after the page deleted it", p.Widget)
		}
	}
	dir := widgetsDir(t, e)
	for _, id := range []string{uploadGood, uploadBad, uploadHuge, refusedNew} {
		if _, err := os.Stat(filepath.Join(dir, id+".zip")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s.zip is in the widgets directory after the page's uploads and deletes: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "crm-desk", "schema.json")); err != nil {
		t.Errorf("the folder package crm-desk was touched by an upload under its id: %v", err)
	}
	// The passport the upload created stays when its widget is deleted.
	type listed struct {
		Provider string `json:"provider"`
		Status   string `json:"status"`
	}
	var ps struct {
		Passports []listed `json:"passports"`
	}
	json.Unmarshal(adminPageAPI(t, e, token, "GET", "passports", seen).raw, &ps)
	if !slices.ContainsFunc(ps.Passports, func(p listed) bool { return p.Provider == "custom:"+uploadGood && p.Status == "inactive" }) {
		t.Errorf("no inactive custom:%s passport after uploading its package and deleting it", uploadGood)
	}
}
