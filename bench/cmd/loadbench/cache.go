package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ---- phase: cache ----

// The cache phase measures the fan-out stage's response cache (issue 14,
// "Benchmarks"): widgetgate answering envelope calls from its cache (wg-hit)
// against Caddy's `respond` serving the very bytes a hit serves
// (caddy-respond), with true misses (wg-miss) for reference and, when
// asked for, Caddy's file_server serving those bytes from a file
// (caddy-file: no placeholder scan of the body, which `respond` makes on
// every request), interleaved like the throughput phase; then n identical calls sent at once to an
// upstream route that answers late.
//
// One widgetgate serves it all, with the response cache on for every GET
// API (cacheGlobal):
//   - wg-hit calls getJSON, one key per body size, primed before anything
//     is measured: every measured call is a hit, and the upstream must see
//     no request at all during a measured hit run.
//   - wg-miss calls getJSONKeyed, whose TTL is overridden to 0, with a
//     query value rotating through `rotation` keys: no two calls in flight
//     are identical, so none is coalesced or cached, and the upstream must
//     see a request per answer.
//   - the identical calls go to getSlowJSON.
const cacheTTL = "1h"

// cacheGlobal is the cache phase's response_cache block (long TTL, so the
// hits stay hits for the whole phase; a cap above the 1 MB envelope).
const cacheGlobal = "response_cache {\n\tttl " + cacheTTL + "\n\toverride bench getJSONKeyed 0\n\tmax_entry_bytes 4MiB\n}\n"

// hitFloor is the target: the hit path at ≥ 0.8× Caddy `respond`.
const hitFloor = 0.8

// keyedRequests returns n distinct getJSONKeyed calls for a body size.
func keyedRequests(size string, n int) []request {
	reqs := make([]request, n)
	for i := range reqs {
		reqs[i] = wgRequest("envelope", "bench", benchInstance, "getJSONKeyed", size)
		reqs[i].body = `{"params":{"size":"` + size + `","k":"` + strconv.Itoa(i) + `"}}`
	}
	return reqs
}

// checkCache checks one answer of t like check does, plus its
// Widgetgate-Cache header (want); it returns the whole body.
func (b *bench) checkCache(t target, r request, size, want string) ([]byte, error) {
	status, hdr, body, err := b.doHeader(t.addr(b), r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", t.name, size, err)
	}
	if err := b.checkAnswer(t.name, size, status, body); err != nil {
		return nil, err
	}
	if got := hdr.Get("Widgetgate-Cache"); got != want {
		return nil, fmt.Errorf("%s %s: Widgetgate-Cache %q, want %q", t.name, size, got, want)
	}
	return body, nil
}

// cacheWidgets writes (once) the cache phase's widget package and returns
// its folder.
func (b *bench) cacheWidgets() (string, error) {
	dir := filepath.Join(b.work, "widgets-cache")
	if exists(dir) {
		return dir, nil
	}
	_, err := writeWidgetsSchema(dir, 1, cacheWidgetSchema(b.upAddr))
	return dir, err
}

func (b *bench) phaseCache() error {
	for _, size := range b.opt.cacheBodies {
		if b.expected[size] == nil {
			return fmt.Errorf("-cache-bodies: %q: want 1k, 100k or 1m", size)
		}
	}
	for _, name := range b.opt.cacheTargets {
		if !slices.Contains([]string{"caddy-respond", "caddy-file", "wg-hit", "wg-miss"}, name) {
			return fmt.Errorf("-cache-targets: %q: want caddy-respond, caddy-file, wg-hit or wg-miss", name)
		}
	}
	dir, err := b.cacheWidgets()
	if err != nil {
		return err
	}
	wg, err := b.startServerWith("widgetgate", "off", serverOpts{widgetsDir: dir, global: cacheGlobal, configName: "Caddyfile.widgetgate-cache"})
	if err != nil {
		return err
	}
	defer wg.proc.stop()
	hitT, missT := target{"wg-hit", wg}, target{"wg-miss", wg}

	// Per body size: fill the cache with the hit key, take the envelope a
	// hit serves, and start the Caddys answering exactly those bytes.
	envelope := map[string][]byte{}
	caddys := map[string]*server{} // caddy-respond or caddy-file, and size
	caddyPath := map[string]string{"caddy-respond": "/", "caddy-file": "/body.json"}
	missReqs := map[string][]request{}
	respLen := map[string]int{}
	for _, size := range b.opt.cacheBodies {
		r := b.request(hitT, size)
		if _, err := b.checkCache(hitT, r, size, "miss"); err != nil {
			return fmt.Errorf("filling the cache: %v", err)
		}
		env, err := b.checkCache(hitT, r, size, "hit")
		if err != nil {
			return err
		}
		envelope[size], respLen["wg-hit"+size] = env, len(env)
		for kind, path := range caddyPath {
			if !slices.Contains(b.opt.cacheTargets, kind) {
				continue
			}
			s, err := b.startServerWith(kind, "off", serverOpts{respondBody: env, configName: "Caddyfile." + kind + "-envelope-" + size})
			if err != nil {
				return err
			}
			defer s.proc.stop()
			caddys[kind+size] = s
			st, hdr, body, err := b.doHeader(s.addr, request{method: "GET", path: path})
			if err != nil {
				return err
			}
			if st != 200 || hdr.Get("Content-Type") != "application/json" || !bytes.Equal(body, env) {
				return fmt.Errorf("%s %s: status %d, Content-Type %q, %d bytes; want 200, application/json and the hit's %d bytes exactly",
					kind, size, st, hdr.Get("Content-Type"), len(body), len(env))
			}
			respLen[kind+size] = len(env)
		}
		missReqs[size] = keyedRequests(size, rotation)
		for _, mr := range []request{missReqs[size][0], missReqs[size][0]} { // twice: not cached
			body, err := b.checkCache(missT, mr, size, "miss")
			if err != nil {
				return err
			}
			respLen["wg-miss"+size] = len(body)
		}
		b.logf("cache %s: the hit serves a %d-byte envelope; the Caddy targets serve the same bytes", size, len(env))
	}
	b.logf("every target answers 200 with the exact body; wg-hit answers Widgetgate-Cache: hit, wg-miss answers miss")

	for round := 1; round <= b.opt.rounds; round++ {
		for _, size := range b.opt.cacheBodies {
			for _, conns := range b.opt.cacheConns {
				for _, name := range b.opt.cacheTargets {
					var t target
					var reqs []request
					switch name {
					case "caddy-respond", "caddy-file":
						t, reqs = target{name, caddys[name+size]}, []request{{method: "GET", path: caddyPath[name]}}
					case "wg-hit":
						t, reqs = hitT, []request{b.request(hitT, size)}
						// Still a hit, still the same bytes.
						if env, err := b.checkCache(t, reqs[0], size, "hit"); err != nil {
							return err
						} else if !bytes.Equal(env, envelope[size]) {
							return fmt.Errorf("wg-hit %s: the hit's envelope changed (%d bytes, was %d)", size, len(env), len(envelope[size]))
						}
					case "wg-miss":
						t, reqs = missT, missReqs[size]
					}
					if _, err := b.measure("cache", t, size, conns, round, reqs, respLen[name+size]); err != nil {
						return err
					}
				}
			}
		}
	}

	var identical []identicalRow
	if b.opt.identical > 0 {
		if identical, err = b.identicalCalls(wg, "1k"); err != nil {
			return err
		}
	}
	b.summarizeCache(envelope, identical)
	return nil
}

// identicalCalls sends b.opt.identical identical getSlowJSON calls at
// once, twice: first with a key nothing has asked for (the upstream takes
// -identical-delay to answer, so the calls overlap: one upstream request,
// the others coalesced, or hits if they arrive after the answer), then
// again within the TTL (every call a hit, no upstream request). The
// driver opens its connections first, so the latency is the call's, not
// the dial's.
func (b *bench) identicalCalls(s *server, size string) ([]identicalRow, error) {
	n := b.opt.identical
	var dials atomic.Int64
	dialer := &net.Dialer{}
	tr := &http.Transport{
		DisableCompression: true, MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: 5 * time.Minute,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: time.Minute}
	r := wgRequest("envelope", "bench", benchInstance, "getSlowJSON", size)

	// at sends n requests made by mk at once (after every goroutine is
	// ready) and calls got with each answer and its latency.
	at := func(mk func() *http.Request, got func(i int, d time.Duration, resp *http.Response, body []byte, err error)) time.Duration {
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				req := mk()
				ready.Done()
				<-start
				t0 := time.Now()
				resp, err := c.Do(req)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				got(i, time.Since(t0), resp, body, err)
			}()
		}
		ready.Wait()
		t0 := time.Now()
		close(start)
		done.Wait()
		return time.Since(t0)
	}
	// Open the connections: n cheap requests at once (Caddy answers "/"
	// with an empty 200 outside the widgetgate route).
	at(func() *http.Request { req, _ := http.NewRequest("GET", "http://"+s.addr+"/", nil); return req },
		func(int, time.Duration, *http.Response, []byte, error) {})
	opened := dials.Load()

	var out []identicalRow
	for round, note := range []string{"cold key", "within the TTL"} {
		lat := make([]time.Duration, n)
		sources := make([]string, n)
		errs := make([]error, n)
		bodies := make([][]byte, n)
		var u0, u1 upStats
		if err := b.upstreamStats(&u0); err != nil {
			return nil, err
		}
		d0 := dials.Load()
		cpu0, v0 := s.proc.cpuSeconds(), b.vault.snapshot()
		wall := at(func() *http.Request {
			req, _ := http.NewRequest(r.method, "http://"+s.addr+r.path, strings.NewReader(r.body))
			for _, h := range r.headers {
				req.Header.Set(h[0], h[1])
			}
			return req
		}, func(i int, d time.Duration, resp *http.Response, body []byte, err error) {
			lat[i], errs[i], bodies[i] = d, err, body
			if err == nil {
				sources[i] = resp.Header.Get("Widgetgate-Cache")
				errs[i] = b.checkAnswer("wg-identical", size, resp.StatusCode, body)
			}
		})
		cpu1, v1 := s.proc.cpuSeconds(), b.vault.snapshot()
		if err := b.upstreamStats(&u1); err != nil {
			return nil, err
		}
		b.wgRequests += int64(n)
		label := fmt.Sprintf("cache %d identical calls, %s", n, note)
		count := map[string]int{}
		wrong := 0
		var ref []byte // the first right answer: every other must be the same bytes
		for i := range n {
			if errs[i] == nil && ref == nil {
				ref = bodies[i]
			}
		}
		for i := range n {
			count[sources[i]]++
			switch {
			case errs[i] != nil:
				if wrong == 0 {
					b.fail("%s: %v", label, errs[i])
				}
				wrong++
			case !bytes.Equal(bodies[i], ref):
				if wrong == 0 {
					b.fail("%s: answers differ (%d and %d bytes)", label, len(bodies[i]), len(ref))
				}
				wrong++
			}
		}
		if wrong > 1 {
			b.fail("%s: %d of %d answers wrong", label, wrong, n)
		}
		sorted := slices.Clone(lat)
		slices.Sort(sorted)
		pct := func(p float64) float64 {
			return float64(sorted[min(n-1, max(0, int(float64(n)*p+0.999999)-1))].Microseconds())
		}
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		res := runResult{Phase: "cache-identical", Target: "wg-identical", Body: size, Conns: n, Round: round + 1,
			Note: fmt.Sprintf("%s: miss %d, coalesced %d, hit %d; driver connections: %d opened first, %d more during the calls",
				note, count["miss"], count["coalesced"], count["hit"], opened, dials.Load()-d0),
			RPS: float64(n) / wall.Seconds(),
			Wrk: wrkOut{Requests: int64(n), DurationUS: wall.Microseconds(), Bytes: int64(n * len(ref)),
				P50US: pct(0.50), P90US: pct(0.90), P99US: pct(0.99), MaxUS: float64(sorted[n-1].Microseconds()),
				MeanUS: float64(sum.Microseconds()) / float64(n)},
			ProxyCPUUSPerReq: (cpu1 - cpu0) / float64(n) * 1e6,
			NewUpstreamConns: u1.Accepted - u0.Accepted,
			UpstreamRequests: u1.Requests - u0.Requests,
		}
		res.VaultCalls, res.VaultCallsTotal = diffCounts(v0, v1)
		b.results = append(b.results, res)
		out = append(out, identicalRow{note: note, answers: fmt.Sprintf("miss %d, coalesced %d, hit %d", count["miss"], count["coalesced"], count["hit"]),
			dials: dials.Load() - d0, run: res})
		// With a TTL the stage guarantees it: the flight's answer is cached
		// before it lands, so a call after it is a hit, never a second flight.
		if want := int64(1 - round); res.UpstreamRequests != want {
			b.fail("%s: the upstream saw %d requests, want %d", label, res.UpstreamRequests, want)
		}
		if int64(count["miss"]) != res.UpstreamRequests {
			b.fail("%s: %d answers say miss, the upstream saw %d requests", label, count["miss"], res.UpstreamRequests)
		}
		b.logf("%-40s upstream requests %d  miss %d coalesced %d hit %d  p50 %6.2f ms  p99 %7.2f ms  max %7.2f ms  all in %s",
			label, res.UpstreamRequests, count["miss"], count["coalesced"], count["hit"], res.Wrk.P50US/1000, res.Wrk.P99US/1000, res.Wrk.MaxUS/1000, wall.Round(time.Millisecond))
	}
	return out, nil
}

// identicalRow is one batch of identical calls.
type identicalRow struct {
	note, answers string // which batch; its answers by Widgetgate-Cache
	dials         int64  // connections the driver opened during the calls
	run           runResult
}

func (b *bench) summarizeCache(envelope map[string][]byte, identical []identicalRow) {
	cs := b.cells("cache")
	file := slices.Contains(b.opt.cacheTargets, "caddy-file")
	w := &b.summary
	fmt.Fprintf(w, "\n## Cache: hits against Caddy `respond` serving the same bytes (medians of %d round(s) of %s, interleaved; wrk -t1 on the client core)\n\n", b.opt.rounds, b.opt.duration)
	var sizes []string
	for _, size := range b.opt.cacheBodies {
		if env := envelope[size]; env != nil {
			sizes = append(sizes, fmt.Sprintf("%s: %d bytes", size, len(env)))
		}
	}
	fmt.Fprintf(w, "One widgetgate with `response_cache { ttl %s }`. wg-hit = envelope calls of one key per body, cached before the runs: "+
		"each run checks first that the answer says `Widgetgate-Cache: hit`, and fails unless the upstream sees 0 requests during it. "+
		"caddy-respond = Caddy's `respond` with `header Content-Type application/json` serving the envelope the hit serves, byte for byte (%s). ",
		cacheTTL, strings.Join(sizes, ", "))
	if file {
		fmt.Fprintf(w, "caddy-file = Caddy's `file_server` serving the same bytes from a file: `respond` scans its body for placeholders on every request, "+
			"which costs in proportion to the body and its `{`s; `file_server` does not. ")
	}
	fmt.Fprintf(w, "wg-miss = envelope calls of an API whose TTL is overridden to 0, rotating through %d distinct keys: "+
		"true misses, none coalesced (the upstream must see a request per answer). "+
		"proxy CPU = widgetgate's or Caddy's own CPU per request; core = + the upstream's. upstream requests = over the cell's measured runs.\n\n", rotation)
	fileCol, fileSep := "", ""
	if file {
		fileCol, fileSep = " × file |", "---|"
	}
	fmt.Fprintf(w, "| body | conns | target | req/s | × respond |%s p50 ms | p99 ms | proxy CPU µs/req | core µs/req | core busy | upstream requests | Vault calls |\n", fileCol)
	fmt.Fprintf(w, "|---|---|---|---|---|%s---|---|---|---|---|---|---|\n", fileSep)
	for _, c := range cs {
		resp, _ := find(cs, "caddy-respond", c.body, c.conns)
		vc := "–"
		if strings.HasPrefix(c.target, "wg-") {
			vc = fmt.Sprint(c.vaultCalls)
		}
		xfile := ""
		if file {
			f, _ := find(cs, "caddy-file", c.body, c.conns)
			xfile = " " + ratio(c.rps, f.rps) + " |"
		}
		fmt.Fprintf(w, "| %s | %d | %s | %.0f | %s |%s %.3f | %.3f | %.1f | %.1f | %.0f%% | %d | %s |\n",
			c.body, c.conns, c.target, c.rps, ratio(c.rps, resp.rps), xfile, c.p50/1000, c.p99/1000, c.proxyCPU, c.coreCPU, c.busy*100, c.upstreamReqs, vc)
	}
	var rows []string
	for _, size := range b.opt.cacheBodies {
		for _, conns := range b.opt.cacheConns {
			hit, ok1 := find(cs, "wg-hit", size, conns)
			resp, ok2 := find(cs, "caddy-respond", size, conns)
			if !ok1 || !ok2 {
				continue
			}
			met := "no"
			if hit.rps >= hitFloor*resp.rps {
				met = "yes"
			}
			rows = append(rows, fmt.Sprintf("| hit ≥ %.1f× Caddy `respond` (%s, c=%d) | %.3f× (%.0f vs %.0f req/s; CPU %.1f vs %.1f µs/req; p99 %.3f vs %.3f ms) | %s |",
				hitFloor, size, conns, hit.rps/resp.rps, hit.rps, resp.rps, hit.proxyCPU, resp.proxyCPU, hit.p99/1000, resp.p99/1000, met))
		}
	}
	if len(rows) > 0 {
		fmt.Fprintf(w, "\n| target (issue 14) | measured | met |\n|---|---|---|\n%s\n", strings.Join(rows, "\n"))
	}
	if len(identical) > 0 {
		n := identical[0].run.Conns
		fmt.Fprintf(w, "\n## Cache: %d identical calls at once (envelope, %s; the upstream answers after %s; TTL %s)\n\n", n, identical[0].run.Body, b.opt.identicalDelay, cacheTTL)
		fmt.Fprintf(w, "%d goroutines of the driver, one connection each, opened before the calls; every answer checked. "+
			"Latency is from the driver's send to the end of the body, the driver's own scheduling included. "+
			"upstream requests from the upstream's /stats. widgetgate CPU is read from /proc in 10 ms ticks: ±%.0f µs per call.\n\n", n, 1e4/float64(n))
		fmt.Fprintf(w, "| calls | upstream requests | answers (Widgetgate-Cache) | p50 ms | p99 ms | max ms | all answered in ms | widgetgate CPU µs/call | new driver conns |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, row := range identical {
			r := row.run
			fmt.Fprintf(w, "| %d, %s | %d | %s | %.3f | %.3f | %.3f | %.0f | %.1f | %d |\n", n, row.note, r.UpstreamRequests, row.answers,
				r.Wrk.P50US/1000, r.Wrk.P99US/1000, r.Wrk.MaxUS/1000, float64(r.Wrk.DurationUS)/1000, r.ProxyCPUUSPerReq, row.dials)
		}
	}
}
