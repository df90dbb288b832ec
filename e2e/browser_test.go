package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/callerctx"
	"github.com/widgetgate/widgetgate/examples/host"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// TestBrowserKit runs the example host page (examples/host) in headless
// Chromium against the real stack in signed caller-context mode, through
// e2e/browser/kit.test.mjs (playwright-core): the calendar, my-saas and
// graph-calendar widgets render the stand-in's data, and a hostile widget
// on the same page gets nothing it tries for. Then the hostile widget's
// page is opened top-level (a link is enough) by an operator whose browser
// holds the Basic credentials of an admin handler on the same site: it must
// run with an opaque origin, read nothing from the admin API and change
// nothing through it; and forms a page on another origin auto-submits to
// the admin API are refused. Screenshots go to e2e/browser/out/.
func TestBrowserKit(t *testing.T) {
	node, chromium := browserDeps(t)

	// The host page's origin must be in allowed_origins before widgetgate
	// starts: take the port first, serve on it once the stack is up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostOrigin := "http://" + ln.Addr().String()

	// The admin handler on the sidecar's own site, behind basic_auth: the
	// set-up the README advises against, and the one a widget page opened
	// top-level could abuse if it ran with the sidecar's origin.
	const opsUser, opsPassword = "ops", "ops-password-b7e2"
	hash, err := testenv.Run(t, "hash-password", "--algorithm", "bcrypt", "--bcrypt-cost", "4", "--plaintext", opsPassword)
	if err != nil {
		t.Fatalf("hash-password: %v\n%s", err, hash)
	}
	e := start(t, options{
		globalExtra:  "context_keys {\n\t\t\thmac_vault\n\t\t}",
		handlerBlock: "caller_context signed\n\t\t\tcontext_audience widgetgate\n\t\t\tallowed_origins " + hostOrigin,
		extraWidgets: map[string]map[string]string{
			"hostile": {"schema.json": hostileSchema, "widget.html": hostileHTML},
			"welcome": {"schema.json": welcomeSchema, "widget.html": welcomeHTML},
			"legacy":  {"schema.json": `{"authentications": [], "authenticatedApis": []}`, "widget.html": legacyHTML},
		},
		extraRoutes: "route /admin/* {\n\t\tbasic_auth {\n\t\t\t" + opsUser + " " + strings.TrimSpace(hash) + "\n\t\t}\n" +
			"\t\twidgetgate_admin {\n\t\t\ttrust_auth_directive\n\t\t\tpublic_url http://{addr}/admin\n\t\t}\n\t}",
	})
	key := make([]byte, 32)
	rand.Read(key)
	secret := []byte(base64.RawURLEncoding.EncodeToString(key)) // 43 bytes
	e.vault.Put(t, "widgetgate/context-keys", map[string]any{"current": string(secret)})

	const token = "ya29.browser-kit-7d1e"
	e.provider.AddToken(token)
	e.vault.PutPassport(t, "pp-google", "google", token)
	e.vault.PutPassport(t, "pp-saas", "custom:my-api-connector", token)
	e.vault.PutPassport(t, "pp-ms", "microsoft", token)
	// One screen, one instance: the hostile widget shares the lobby's
	// passports, and still reaches none of the other widgets' APIs.
	e.bind(t, "lobby", map[string]any{"googleCalAuth": "pp-google", "myApiAuth": "pp-saas", "msGraph": "pp-ms"})

	// The keys load from Vault in the background: wait until a token passes.
	probe, err := callerctx.Mint(secret, callerctx.Context{Instance: "lobby", Widget: "calendar", User: "u1"}, "widgetgate", time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "context keys loaded", func() error {
		if r := e.call(t, "POST", calendarCall, `{}`, "X-Widget-Context", probe); r.status != 200 {
			return fmt.Errorf("status %d: %s", r.status, r.raw)
		}
		return nil
	})

	srv := httptest.NewUnstartedServer(host.Handler(host.Config{
		SidecarURL: e.gw.URL + "/sidecar",
		Key:        secret,
		Audience:   "widgetgate",
		// The legacy widget sends no lifecycle signal: the page shows it
		// after this, in state "timeout" (checked by kit.test.mjs).
		ReadyTimeout: 2 * time.Second,
		Widgets: []host.Mount{
			{Widget: "calendar", Instance: "lobby", User: "u1", Title: "Google Calendar"},
			{Widget: "my-saas", Instance: "lobby", User: "u1", Title: "My SaaS"},
			{Widget: "graph-calendar", Instance: "lobby", User: "u1", Title: "Microsoft 365"},
			{Widget: "hostile", Instance: "lobby", User: "u1", Title: "Hostile widget (test only)"},
			{Widget: "welcome", Instance: "lobby", User: "u1", Title: "Welcome (configured)"},
			{Widget: "legacy", Instance: "lobby", User: "u1", Title: "Legacy (no Widget API)"},
		},
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	out, err := filepath.Abs(filepath.Join("browser", "out", "kit"))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(out)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("browser", "kit.test.mjs"))
	cmd.Env = append(os.Environ(), "HOST_URL="+hostOrigin+"/", "OUT_DIR="+out, "CHROMIUM_BIN="+chromium,
		"WIDGET_URL="+e.gw.URL+"/sidecar/widgets/hostile/widget.html", "ADMIN_URL="+e.gw.URL+"/admin/",
		"ADMIN_USER="+opsUser, "ADMIN_PASSWORD="+opsPassword, "ADMIN_PASSPORT=pp-google", "CONFIG_TITLE="+configTitle)
	cmd.WaitDelay = 10 * time.Second
	output, err := cmd.CombinedOutput()
	t.Logf("kit.test.mjs:\n%s", output)
	// The top-level page's POST to the admin API (with the operator's
	// credentials, if the browser attached them) disconnected nothing.
	if rec, err := e.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/pp-google"); err != nil {
		t.Errorf("pp-google is gone from Vault: %v", err)
	} else if rec.Data["status"] != "active" || rec.Data["access_token"] != token || rec.Data["refresh_token"] == nil {
		t.Errorf("the widget page opened top-level, or a cross-site form, changed pp-google through the admin API: status %v, fields %v", rec.Data["status"], keys(rec.Data))
	}
	if ids, err := e.vault.Client.Logical().List("secret/metadata/widgetgate/passports"); err != nil {
		t.Errorf("listing passports: %v", err)
	} else if got := fmt.Sprint(ids.Data["keys"]); got != "[pp-google pp-ms pp-saas]" {
		t.Errorf("passports after the cross-site forms: %s, want only the three the test stored", got)
	}
	// The title the administrator set on the operator page is the lobby's,
	// in Vault.
	if rec, err := e.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/config/lobby/welcome"); err != nil {
		t.Errorf("no configuration of welcome for lobby in Vault: %v", err)
	} else if v, _ := rec.Data["values"].(string); v != `{"title":"`+configTitle+`"}` {
		t.Errorf("Vault holds the configuration %q, want only the title the administrator set", v)
	}
	if err != nil {
		t.Fatalf("the browser check failed (%v); screenshots and the browser console are in %s", err, out)
	}

	// The provider saw the three widgets' calls (and the probe), each with
	// Vault's token, and nothing the hostile widget tried.
	seen := map[string]int{}
	for _, req := range e.provider.Requests() {
		path, _, _ := strings.Cut(req.URL, "?")
		seen[req.Method+" "+path]++
		if req.Header.Get("Authorization") != "Bearer "+token {
			t.Errorf("provider saw %s %s with Authorization %q", req.Method, req.URL, req.Header.Get("Authorization"))
		}
	}
	// The page is loaded twice: before and after the administrator's change.
	want := map[string]int{
		"GET /calendar/v3/calendars/primary/events": 3, // the probe and the calendar widget, twice
		"GET /v1/data":              2,
		"GET /v1.0/me/calendarview": 2,
	}
	if !maps.Equal(seen, want) {
		t.Errorf("provider saw %v, want %v", seen, want)
	}

}

// browserDeps finds node, Chromium and playwright-core, failing (never
// skipping) when one is missing.
func browserDeps(t *testing.T) (node, chromium string) {
	t.Helper()
	const hint = "run `make browser-deps` (Debian's chromium, and npm ci in e2e/browser)"
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: %s", hint)
	}
	chromium = os.Getenv("CHROMIUM_BIN")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no Chromium at %s: %s", chromium, hint)
	}
	if _, err := os.Stat(filepath.Join("browser", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("e2e/browser/node_modules/playwright-core is missing: %s", hint)
	}
	return node, chromium
}

// The hostile widget, for TestBrowserKit only. It shares the page (and the
// instance) with the good widgets and tries to get at their data; each
// attempt's outcome is written into its page for kit.test.mjs to check.
// configTitle is what the administrator sets as the welcome widget's title.
const configTitle = "Main lobby"

// welcomeSchema and welcomeHTML are a widget written against the Appspace
// Widget API that needs no passport: it waits for the API, reads its
// configuration, renders the title, asks for the height it is configured
// with, raises an analytics event and says it is ready. Nothing else.
// legacyHTML is a widget written without the Widget API: it never says
// it is ready, so the host shows it after readyTimeout.
const legacyHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Legacy</title></head>
<body style="margin:0;font:16px system-ui,sans-serif"><p id="legacy">Written before the Widget API</p></body></html>`

const welcomeSchema = `{"authentications": [], "authenticatedApis": [], "configuration": {"fields": [
  {"name": "title", "type": "text", "label": "Title", "description": "Shown in large type", "group": "Display",
   "default": "Welcome", "validation": {"required": true, "maxLength": 60}},
  {"name": "height", "type": "number", "label": "Height (px)", "group": "Display", "default": 240, "validation": {"min": 120, "max": 600}}
]}}`

const welcomeHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Welcome</title>
<style>
  body { margin: 0; font: 16px system-ui, sans-serif; background: #0b3d91; color: #fff; }
  h1 { margin: 0; padding: 1.2rem; font-size: 2rem; }
  p { margin: 0 1.2rem; opacity: .8; }
</style></head>
<body><h1 id="title">…</h1><p id="state">waiting for the Widget API</p>
<script>
(async function () {
  var api = await window.appspace.waitForWidgetApi();
  var answer = await api.getConfiguration();
  var config = answer.data.configuration;
  document.getElementById('title').textContent = config.title.value;
  var height = await api.setHeight(config.height.value);
  document.getElementById('state').textContent = 'height ' + height + ' px';
  await api.raiseAnalyticsEvent('welcome.rendered', { titleLength: String(config.title.value).length });
  api.onReady();
})();
</script></body></html>`

const hostileSchema = `{
  "authentications": [
    {"label": "Hostile", "authenticationType": "passport", "authKey": "hostileAuth", "metadata": {"passportProvider": "google"}}
  ],
  "authenticatedApis": [
    {"label": "Own data", "name": "ownData", "url": "http://127.0.0.1:8931/v1/data", "method": "GET", "authenticationKey": "hostileAuth",
     "headers": {"Authorization": "Bearer {authorization.hostileAuth.token}"}}
  ]
}`

const hostileHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hostile widget</title>
<style>
  body { font: 12px/1.35 system-ui, sans-serif; margin: .8rem; background: #1f0b10; color: #fecaca; }
  h1 { font-size: 1rem; margin: 0 0 .4rem; }
  ul { margin: 0; padding: 0; }
  li { list-style: none; padding: .15rem 0; border-bottom: 1px solid #3f1d24; }
  .blocked::before { content: "\2713  "; color: #86efac; }
  .LEAK { background: #b91c1c; color: #fff; }
</style>
</head>
<body>
<h1>Hostile widget: attempts</h1>
<ul id="checks"></ul>
<script>
(async function () {
  var list = document.getElementById('checks');
  if (window.parent === window) {
    await topLevel();
    return;
  }
  var leaked = /Team stand-up|alpha|Planning|"isSuccess":true/;
  function record(name, verdict, detail) {
    var li = document.createElement('li');
    li.setAttribute('data-check', name);
    li.setAttribute('data-verdict', verdict);
    li.setAttribute('data-detail', String(detail));
    li.className = verdict;
    li.textContent = name + ': ' + verdict + ' (' + detail + ')';
    list.appendChild(li);
  }
  function verdictOf(value) {
    return leaked.test(JSON.stringify(value === undefined ? null : value)) ? 'LEAK' : 'blocked';
  }

  // Answers to the hand-made messages below.
  var replies = {};
  window.addEventListener('message', function (e) {
    var d = e.data;
    if (e.source === parent && d && d.widgetgate === 1 && d.type === 'result' && /^forged/.test(d.id)) replies[d.id] = d;
  });
  function waitReply(id, ms) {
    return new Promise(function (resolve) {
      var t0 = Date.now();
      (function poll() {
        if (replies[id]) return resolve(replies[id]);
        if (Date.now() - t0 > ms) return resolve(null);
        setTimeout(poll, 50);
      })();
    });
  }
  function replyDetail(r) {
    if (!r) return 'no answer';
    if (r.error) return r.error.code + ': ' + r.error.message;
    return r.result.status + ' ' + ((r.result.data && r.result.data.code) || '');
  }

  // Forged results (and calls) posted into every other frame, over two
  // seconds, while their own calls are in flight.
  var sent = 0;
  var fake = { status: 200, statusText: 'OK', data: { statusCode: 200, isSuccess: true, body: {
    items: [{ summary: 'PWNED', start: { dateTime: '2026-01-01T00:00:00Z' } }],
    value: [{ subject: 'PWNED', start: { dateTime: '2026-01-01T00:00:00' } }] } } };
  var forging = new Promise(function (resolve) {
    var rounds = 0;
    var timer = setInterval(function () {
      for (var i = 0; i < parent.frames.length; i++) {
        var f = parent.frames[i];
        if (f === window) continue;
        ['1', '0', 'c1', 'c-1', 'c1-1'].forEach(function (id) {
          f.postMessage({ widgetgate: 1, type: 'result', id: id, result: fake }, '*');
          sent++;
        });
        f.postMessage({ widgetgate: 1, type: 'call', id: 'forged-sib', name: 'getData', params: {} }, '*');
        sent++;
      }
      if (++rounds >= 20) { clearInterval(timer); resolve(); }
    }, 100);
  });

  try {
    var api = await window.appspace.waitForWidgetApi();
    if (typeof api.onReady === 'function') api.onReady();

    // (a) Another widget's API, through the kit.
    try {
      var r = await api.callAuthenticatedAPI('getCalendarEvents', { params: { maxResults: '10' } });
      record('other-widget-api', r.status === 200 ? 'LEAK' : verdictOf(r), r.status + ' ' + ((r.data && r.data.code) || ''));
    } catch (e) {
      record('other-widget-api', 'blocked', 'rejected: ' + e.message);
    }

    // (b) The host page.
    try {
      record('read-parent-document', 'LEAK', parent.document.title);
    } catch (e) {
      record('read-parent-document', 'blocked', e.name + ': ' + e.message);
    }
    try {
      var kit = parent.WidgetGate;
      record('read-parent-kit', kit ? 'LEAK' : 'blocked', typeof kit);
    } catch (e) {
      record('read-parent-kit', 'blocked', e.name + ': ' + e.message);
    }

    // (c) Hand-made messages to the host.
    parent.postMessage({ widgetgate: 1, type: 'call', id: 'forged1', name: 'getCalendarEvents', params: { maxResults: '10' }, widget: 'calendar' }, '*');
    var r1 = await waitReply('forged1', 10000);
    record('forged-widget-claim', r1 && r1.result && r1.result.status === 200 ? 'LEAK' : verdictOf(r1), replyDetail(r1));

    parent.postMessage({ widgetgate: 1, type: 'call', id: 'forged2', name: 'getData', params: {} }, '*');
    var r2 = await waitReply('forged2', 10000);
    record('forged-raw-call', r2 && r2.result && r2.result.status === 200 ? 'LEAK' : verdictOf(r2), replyDetail(r2));

    parent.postMessage({ widgetgate: 1, type: 'result', id: 'forged3', result: fake }, '*');
    var r3 = await waitReply('forged3', 5000);
    record('forged-result-to-host', r3 && r3.result ? 'LEAK' : 'blocked', replyDetail(r3));

    await forging;
    record('forged-results-to-siblings', 'blocked', 'sent ' + sent + ' forged messages to the other frames');

    // (d) Overriding the method.
    try {
      var r4 = await api.callAuthenticatedAPI('getData', { method: 'DELETE' });
      record('method-override', 'LEAK', r4.status);
    } catch (e) {
      record('method-override', 'blocked', e.message);
    }

    // (e) Calling the sidecar directly, without the host (and its token).
    var kitSrc = document.querySelector('script[data-widgetgate-role]').src;
    var sidecar = kitSrc.replace(/\/widgetgate\.js$/, '');
    try {
      var res = await fetch(sidecar + '/widgets/calendar/apis/getCalendarEvents', { method: 'POST', body: '{"params":{}}' });
      var text = await res.text();
      record('direct-sidecar-call', res.ok && leaked.test(text) ? 'LEAK' : 'blocked', 'HTTP ' + res.status);
    } catch (e) {
      record('direct-sidecar-call', 'blocked', e.name + ': ' + e.message);
    }

    // (f) Fetching a context token from the host's server.
    var hostOrigin = (location.ancestorOrigins && location.ancestorOrigins[0]) || 'null';
    try {
      var res2 = await fetch(hostOrigin + '/context?widget=calendar&instance=lobby');
      var text2 = await res2.text();
      record('steal-context-token', /token/.test(text2) ? 'LEAK' : 'blocked', 'HTTP ' + res2.status);
    } catch (e) {
      record('steal-context-token', 'blocked', e.name + ': ' + e.message);
    }
  } catch (e) {
    record('hostile-script', 'error', e.name + ': ' + e.message);
  }
  finish();

  function finish() {
    var done = document.createElement('p');
    done.id = 'done';
    done.textContent = 'done';
    document.body.appendChild(done);
  }

  // Opened top-level (a link to the page is enough), on the sidecar's site,
  // in a browser holding the operator's admin credentials: the page tries
  // the admin API. With the sidecar's origin it could read it and post to it.
  async function topLevel() {
    document.querySelector('h1').textContent = 'Hostile widget, opened top-level: attempts';
    var origin = self.origin;
    record('top-level-origin', origin === 'null' ? 'blocked' : 'LEAK', 'self.origin = ' + origin);
    var admin = new URL('/admin/api/', location.href).href;
    try {
      var res = await fetch(admin + 'passports', { credentials: 'include' });
      var text = await res.text();
      record('top-level-admin-read', res.ok ? 'LEAK' : 'blocked', 'HTTP ' + res.status + ' ' + text.slice(0, 80));
    } catch (e) {
      record('top-level-admin-read', 'blocked', e.name + ': ' + e.message);
    }
    // What an auto-submitted form sends: a simple request, no preflight.
    var target = new URLSearchParams(location.search).get('passport') || 'pp-google';
    try {
      var res2 = await fetch(admin + 'passports/' + target + '/disconnect', {
        method: 'POST', mode: 'no-cors', credentials: 'include',
        headers: { 'Content-Type': 'text/plain' }, body: '{}',
      });
      record('top-level-admin-disconnect', res2.type === 'opaque' || !res2.ok ? 'blocked' : 'LEAK', 'response ' + res2.type + ' ' + res2.status);
    } catch (e) {
      record('top-level-admin-disconnect', 'blocked', e.name + ': ' + e.message);
    }
    try {
      localStorage.setItem('hostile', '1');
      record('top-level-storage', 'LEAK', 'wrote to the sidecar origin\'s localStorage');
    } catch (e) {
      record('top-level-storage', 'blocked', e.name + ': ' + e.message);
    }
    finish();
  }
})();
</script>
</body>
</html>
`
