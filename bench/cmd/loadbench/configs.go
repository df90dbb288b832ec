package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The configs below are the whole comparison: read them before the numbers.
// Every proxy adds "Authorization: Bearer <token>" and keeps an idle pool
// of opts.pool connections to the upstream, so keep-alive holds at every
// concurrency measured.

// widgetSchema is the schema.json of every generated widget package: one
// JSON API and one stream, both with the size as a path param (so each
// call renders a template), and the token injected from the passport
// bound to authKey benchAuth; plus getJSONKeyed, the same document with a
// query value the upstream ignores. Rotating that value makes distinct
// calls, which widgetgate never coalesces: envelope mode is measured on
// them, so every measured call is a real upstream exchange.
func widgetSchema(upAddr string) string {
	return fmt.Sprintf(`{
  "authentications": [
    {"label": "Bench provider", "authenticationType": "passport", "authKey": "benchAuth",
     "metadata": {"passportProvider": "google"}}
  ],
  "authenticatedApis": [
    {"label": "JSON document", "name": "getJSON", "method": "GET", "authenticationKey": "benchAuth",
     "url": "http://%[1]s/json/{param.size}",
     "headers": {"Authorization": "Bearer {authorization.benchAuth.token}"}},
    {"label": "JSON document, keyed", "name": "getJSONKeyed", "method": "GET", "authenticationKey": "benchAuth",
     "url": "http://%[1]s/json/{param.size}?k={param.k}",
     "headers": {"Authorization": "Bearer {authorization.benchAuth.token}"}},
    {"label": "Byte stream", "name": "getStream", "method": "GET", "authenticationKey": "benchAuth",
     "url": "http://%[1]s/stream/{param.size}",
     "headers": {"Authorization": "Bearer {authorization.benchAuth.token}"}}
  ]
}
`, upAddr)
}

// cacheWidgetSchema is the cache phase's schema.json: widgetSchema's APIs
// (getJSONKeyed's TTL is overridden to 0 there: true misses) plus
// getSlowJSON, the same document after the upstream's -slow-delay (so
// that many identical calls overlap).
func cacheWidgetSchema(upAddr string) string {
	s := widgetSchema(upAddr)
	i := strings.LastIndex(s, "}\n  ]")
	return s[:i] + fmt.Sprintf(`},
    {"label": "JSON document, slow", "name": "getSlowJSON", "method": "GET", "authenticationKey": "benchAuth",
     "url": "http://%[1]s/slow/{param.size}",
     "headers": {"Authorization": "Bearer {authorization.benchAuth.token}"}`, upAddr) + s[i:]
}

// writeWidgets creates dir with n widget packages: "bench" when n == 1,
// else w00000 ... w<n-1>.
func writeWidgets(dir string, n int, upAddr string) ([]string, error) {
	return writeWidgetsSchema(dir, n, widgetSchema(upAddr))
}

// writeWidgetsSchema is writeWidgets with every package's schema.json.
func writeWidgetsSchema(dir string, n int, schemaJSON string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	schema := []byte(schemaJSON)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("w%05d", i)
		if n == 1 {
			ids[i] = "bench"
		}
		d := filepath.Join(dir, ids[i])
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(d, "schema.json"), schema, 0o644); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// widgetgateCaddyfile runs widgetgate on addr. admin is "off" or an address
// (only the profiling run opens it, for /debug/pprof). global is more
// options of the global widgetgate block, one a line ("" for none).
func widgetgateCaddyfile(addr, admin, widgetsDir, vaultAddr string, pool int, global string) string {
	host, port := splitAddr(addr)
	var extra strings.Builder
	for line := range strings.Lines(global) {
		extra.WriteString("\t\t" + line)
	}
	if extra.Len() > 0 && !strings.HasSuffix(extra.String(), "\n") {
		extra.WriteString("\n")
	}
	return fmt.Sprintf(`{
	admin %s
	auto_https off
	widgetgate {
		widgets_dir %s
		allow_http_upstreams
%s		vault {
			address http://%s
			mount secret
			prefix widgetgate
		}
		upstream {
			max_idle_conns_per_host %d
			egress_allow %s
		}
		# The bench measures the proxy, not the protection of a provider:
		# every call goes through one passport, so its concurrency budget
		# (16 by default) would queue all connections beyond 16.
		rate_limits {
			concurrency google 4096
		}
	}
}

:%s {
	bind %s
	route /sidecar/* {
		widgetgate {
			instance_header X-Widget-Instance
		}
	}
}
`, admin, widgetsDir, extra.String(), vaultAddr, pool, host, port, host)
}

// caddyCaddyfile is bare Caddy (the same binary): reverse_proxy with a
// static Authorization header and the same idle pool.
func caddyCaddyfile(addr, admin, upAddr, token string, pool int) string {
	host, port := splitAddr(addr)
	return fmt.Sprintf(`{
	admin %s
	auto_https off
}

:%s {
	bind %s
	reverse_proxy %s {
		header_up Authorization "Bearer %s"
		transport http {
			keepalive_idle_conns_per_host %d
		}
	}
}
`, admin, port, host, upAddr, token, pool)
}

// respondCaddyfile is Caddy answering body itself with `respond`: no
// upstream, the floor of any Caddy handler (for scale only).
func respondCaddyfile(addr string, body []byte) string {
	host, port := splitAddr(addr)
	return fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\n\n:%s {\n\tbind %s\n\theader Content-Type application/json\n\trespond `%s` 200\n}\n", port, host, body)
}

// fileCaddyfile is Caddy's file_server answering from root (the cache
// phase's body.json): the same bytes as `respond`, without the
// placeholder scan `respond` makes of its body on every request.
func fileCaddyfile(addr, root string) string {
	host, port := splitAddr(addr)
	return fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\n\n:%s {\n\tbind %s\n\troot * %s\n\tfile_server\n}\n", port, host, root)
}

// nginxConf is Debian's nginx with one worker: proxy_pass to an upstream
// block with a keep-alive pool, HTTP/1.1 and an empty Connection header (so
// keep-alive to the upstream works at all), and no per-connection request
// limit on either side (nginx's default keepalive_requests 1000 would
// otherwise redial every 1000 requests; Caddy and widgetgate have no such
// limit). Everything else is nginx's default (proxy_buffering on).
func nginxConf(prefix, addr, upAddr, token string, pool int) string {
	return fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
worker_rlimit_nofile 16384;

events {
	worker_connections 8192;
}

http {
	access_log off;
	client_body_temp_path %[1]s/tmp/client;
	proxy_temp_path %[1]s/tmp/proxy;
	fastcgi_temp_path %[1]s/tmp/fastcgi;
	uwsgi_temp_path %[1]s/tmp/uwsgi;
	scgi_temp_path %[1]s/tmp/scgi;
	keepalive_requests 1000000;

	upstream provider {
		server %[3]s;
		keepalive %[5]d;
		keepalive_requests 1000000;
		keepalive_timeout 300s;
	}

	server {
		listen %[2]s;
		location / {
			proxy_pass http://provider;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Authorization "Bearer %[4]s";
		}
	}
}
`, prefix, addr, upAddr, token, pool)
}

func splitAddr(addr string) (host, port string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

// request is one HTTP request wrk sends (and the pre-check sends first).
type request struct {
	method  string
	path    string // with query
	headers [][2]string
	body    string
}

// luaScript is a wrk script: it sends reqs in turn (the static request when
// there is one) and prints a machine-readable summary line at the end.
func luaScript(reqs []request) string {
	var b strings.Builder
	b.WriteString("-- generated by bench/cmd/loadbench\n")
	if len(reqs) == 1 {
		r := reqs[0]
		fmt.Fprintf(&b, "wrk.method = %s\nwrk.path = %s\n", strconv.Quote(r.method), strconv.Quote(r.path))
		for _, h := range r.headers {
			fmt.Fprintf(&b, "wrk.headers[%s] = %s\n", strconv.Quote(h[0]), strconv.Quote(h[1]))
		}
		if r.body != "" {
			fmt.Fprintf(&b, "wrk.body = %s\n", strconv.Quote(r.body))
		}
	} else {
		// Many requests (many widgets or instances): built once in init,
		// then picked in turn, so the script costs wrk little per request.
		b.WriteString("local specs = {\n")
		for _, r := range reqs {
			fmt.Fprintf(&b, "  {%s, %s, {", strconv.Quote(r.method), strconv.Quote(r.path))
			for _, h := range r.headers {
				fmt.Fprintf(&b, "[%s] = %s, ", strconv.Quote(h[0]), strconv.Quote(h[1]))
			}
			fmt.Fprintf(&b, "}, %s},\n", strconv.Quote(r.body))
		}
		b.WriteString(`}
local reqs = {}
local i = 0
init = function(args)
  for k, s in ipairs(specs) do
    local body = s[4]
    if body == "" then body = nil end
    reqs[k] = wrk.format(s[1], s[2], s[3], body)
  end
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
`)
	}
	b.WriteString(`done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
`)
	return b.String()
}
