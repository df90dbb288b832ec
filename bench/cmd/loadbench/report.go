package main

import (
	"fmt"
	"slices"
	"strings"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(x, base float64) string {
	if base == 0 || x == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x/base)
}

// cellStats is the medians over rounds of one target in one cell.
type cellStats struct {
	target, body            string
	conns, runs             int
	rps, p50, p99           float64 // req/s, µs
	proxyCPU, coreCPU, busy float64
	maxNewConns, requests   int64
	maxSteadyNew            int64
	vaultCalls              int64
	upstreamReqs            int64 // over every measured run of the cell
}

var (
	targetOrder = []string{"upstream", "caddy-respond", "caddy-file", "caddy", "nginx", "wg-raw", "wg-envelope", "wg-hit", "wg-miss"}
	bodyOrder   = []string{"1k", "100k", "1m"}
)

// cells returns the medians of every (target, body, conns) in phase.
func (b *bench) cells(phase string) []cellStats {
	type key struct {
		t, body string
		c       int
	}
	groups := map[key][]runResult{}
	var keys []key
	for _, r := range b.results {
		if r.Phase != phase {
			continue
		}
		k := key{r.Target, r.Body, r.Conns}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	slices.SortFunc(keys, func(a, c key) int {
		if d := slices.Index(bodyOrder, a.body) - slices.Index(bodyOrder, c.body); d != 0 {
			return d
		}
		if a.c != c.c {
			return a.c - c.c
		}
		return slices.Index(targetOrder, a.t) - slices.Index(targetOrder, c.t)
	})
	var out []cellStats
	for _, k := range keys {
		rs := groups[k]
		pick := func(f func(runResult) float64) float64 {
			var xs []float64
			for _, r := range rs {
				xs = append(xs, f(r))
			}
			return median(xs)
		}
		c := cellStats{target: k.t, body: k.body, conns: k.c, runs: len(rs),
			rps:      pick(func(r runResult) float64 { return r.RPS }),
			p50:      pick(func(r runResult) float64 { return r.Wrk.P50US }),
			p99:      pick(func(r runResult) float64 { return r.Wrk.P99US }),
			proxyCPU: pick(func(r runResult) float64 { return r.ProxyCPUUSPerReq }),
			coreCPU:  pick(func(r runResult) float64 { return r.CoreCPUUSPerReq }),
			busy:     pick(func(r runResult) float64 { return r.CoreBusy }),
		}
		for _, r := range rs {
			c.maxNewConns = max(c.maxNewConns, r.NewUpstreamConns)
			c.maxSteadyNew = max(c.maxSteadyNew, r.SteadyNewConns)
			c.requests += r.Wrk.Requests
			c.vaultCalls += r.VaultCallsTotal
			c.upstreamReqs += r.UpstreamRequests
		}
		out = append(out, c)
	}
	return out
}

func find(cs []cellStats, target, body string, conns int) (cellStats, bool) {
	for _, c := range cs {
		if c.target == target && c.body == body && c.conns == conns {
			return c, true
		}
	}
	return cellStats{}, false
}

func (b *bench) summarizeThroughput() {
	cs := b.cells("throughput")
	w := &b.summary
	fmt.Fprintf(w, "## Throughput (medians of %d round(s) of %s, interleaved; wrk -t1 on the client core)\n\n", b.opt.rounds, b.opt.duration)
	fmt.Fprintf(w, "proxy CPU = the proxy process's own CPU time per request; core = proxy + upstream (the server core's cost per request). ")
	fmt.Fprintf(w, "new conns = most upstream connections accepted during one measured run / after its first second. ")
	fmt.Fprintf(w, "At the start of a run a Go proxy redials the upstream connections of the requests the previous wrk run cut off (up to one per wrk connection); ")
	fmt.Fprintf(w, "after the first second the count must stay near 0, or the keep-alive pool did not hold (the harness fails above 1 %% of requests). ")
	fmt.Fprintf(w, "Vault calls = widgetgate's requests to Vault during all its measured runs of the cell.\n\n")
	fmt.Fprintf(w, "| body | conns | target | req/s | × bare Caddy | × nginx | p50 ms | p99 ms | proxy CPU µs/req | core µs/req | core busy | new conns | Vault calls |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cs {
		caddy, _ := find(cs, "caddy", c.body, c.conns)
		nginx, _ := find(cs, "nginx", c.body, c.conns)
		vc, nc := "–", fmt.Sprintf("%d / %d", c.maxNewConns, c.maxSteadyNew)
		if strings.HasPrefix(c.target, "wg-") {
			vc = fmt.Sprint(c.vaultCalls)
		}
		if c.target == "upstream" {
			nc = "–" // wrk's own connections
		}
		fmt.Fprintf(w, "| %s | %d | %s | %.0f | %s | %s | %.3f | %.3f | %.1f | %.1f | %.0f%% | %s | %s |\n",
			c.body, c.conns, c.target, c.rps, ratio(c.rps, caddy.rps), ratio(c.rps, nginx.rps),
			c.p50/1000, c.p99/1000, c.proxyCPU, c.coreCPU, c.busy*100, nc, vc)
	}
}

// summarizeTargets compares the run with PERFORMANCE.md's targets.
func (b *bench) summarizeTargets() {
	cs := b.cells("throughput")
	w := &b.summary
	fmt.Fprintf(w, "\n## Against the targets (PERFORMANCE.md), ratios from this run\n\n")
	fmt.Fprintf(w, "| target | measured | met |\n|---|---|---|\n")
	row := func(name, measured string, ok bool) {
		m := "no"
		if ok {
			m = "yes"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", name, measured, m)
	}
	for _, conns := range b.opt.conns {
		caddy, ok1 := find(cs, "caddy", "1k", conns)
		raw, ok2 := find(cs, "wg-raw", "1k", conns)
		env, ok3 := find(cs, "wg-envelope", "1k", conns)
		nginx, ok4 := find(cs, "nginx", "1k", conns)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			continue
		}
		row(fmt.Sprintf("raw 1 KB ≥ 1.25× bare Caddy (c=%d)", conns), ratio(raw.rps, caddy.rps), raw.rps >= 1.25*caddy.rps)
		row(fmt.Sprintf("envelope 1 KB ≥ 1.1× bare Caddy (c=%d)", conns), ratio(env.rps, caddy.rps), env.rps >= 1.1*caddy.rps)
		row(fmt.Sprintf("raw 1 KB ÷ nginx beats bare Caddy ÷ nginx (c=%d)", conns),
			fmt.Sprintf("%s vs %s", ratio(raw.rps, nginx.rps), ratio(caddy.rps, nginx.rps)), raw.rps > caddy.rps)
		row(fmt.Sprintf("raw CPU per request ≤ 80 µs (c=%d; server core, proxy + upstream)", conns),
			fmt.Sprintf("%.1f µs (widgetgate alone %.1f µs; bare Caddy %.1f µs)", raw.coreCPU, raw.proxyCPU, caddy.coreCPU), raw.coreCPU <= 80)
	}
	for _, conns := range b.opt.conns {
		raw, ok1 := find(cs, "wg-raw", "100k", conns)
		env, ok2 := find(cs, "wg-envelope", "100k", conns)
		if ok1 && ok2 {
			row(fmt.Sprintf("envelope 100 KB p50 within 1.3× of raw (c=%d)", conns),
				fmt.Sprintf("%.3f ms vs %.3f ms = %s", env.p50/1000, raw.p50/1000, ratio(env.p50, raw.p50)), env.p50 <= 1.3*raw.p50)
		}
	}
	for _, conns := range []int{256, 1000} {
		var caddy, raw, env int64
		for _, r := range b.results {
			if r.Phase == "memory" && r.Conns == conns {
				switch r.Target {
				case "caddy":
					caddy = r.HWMKiB
				case "wg-raw":
					raw = r.HWMKiB
				case "wg-envelope":
					env = r.HWMKiB
				}
			}
		}
		if caddy > 0 && raw > 0 && env > 0 {
			row(fmt.Sprintf("peak RSS ≤ bare Caddy's (c=%d)", conns),
				fmt.Sprintf("raw %.1f, envelope %.1f, bare Caddy %.1f MiB", mib(raw), mib(env), mib(caddy)), raw <= caddy && env <= caddy)
		}
	}
	for _, s := range b.streamRows {
		if s.name == "wg-raw" {
			row("raw mode RSS flat from 1 MiB to 1 GiB", fmt.Sprintf("%.1f → %.1f MiB", mib(s.hwm1m), mib(s.hwm1g)), s.hwm1g-s.hwm1m <= 2048)
		}
	}
	var reqs, calls int64
	for _, r := range b.results {
		if strings.HasPrefix(r.Target, "wg-") && r.Phase != "growth-passports-after-scan" {
			reqs += r.Wrk.Requests
			calls += r.VaultCallsTotal
		}
	}
	if reqs > 0 {
		// What remains are background re-reads (each key once per
		// cache_ttl, the refresher's scan): a few per minute, not per request.
		row("0 Vault calls per request in steady state (all measured widgetgate runs; background re-reads only)",
			fmt.Sprintf("%d calls / %d requests = %.6f", calls, reqs, float64(calls)/float64(reqs)), calls*1000 < reqs)
	}
	flat := func(name string, rows []growthRow) {
		if len(rows) < 2 {
			return
		}
		first, last := rows[0], rows[len(rows)-1]
		row(fmt.Sprintf("lookup cost flat: p50 at %d vs %d %s", last.n, first.n, name),
			fmt.Sprintf("%.3f vs %.3f ms = %s", last.run.Wrk.P50US/1000, first.run.Wrk.P50US/1000, ratio(last.run.Wrk.P50US, first.run.Wrk.P50US)),
			last.run.Wrk.P50US <= 1.2*first.run.Wrk.P50US)
	}
	flat("widgets", b.growthW)
	flat("passports", b.growthP)
}
