package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkOut is what the generated script's done() prints.
type wrkOut struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	Connect    int64   `json:"connect"`
	Read       int64   `json:"read"`
	Write      int64   `json:"write"`
	Status     int64   `json:"status"` // non-2xx/3xx responses
	Timeout    int64   `json:"timeout"`
	P50US      float64 `json:"p50_us"`
	P90US      float64 `json:"p90_us"`
	P99US      float64 `json:"p99_us"`
	MaxUS      float64 `json:"max_us"`
	MeanUS     float64 `json:"mean_us"`
}

func (o wrkOut) rps() float64 {
	if o.DurationUS == 0 {
		return 0
	}
	return float64(o.Requests) / (float64(o.DurationUS) / 1e6)
}

// errors reports socket and status errors, "" when there were none.
func (o wrkOut) errors() string {
	var e []string
	for _, x := range []struct {
		name string
		n    int64
	}{{"connect", o.Connect}, {"read", o.Read}, {"write", o.Write}, {"timeout", o.Timeout}, {"non-2xx", o.Status}} {
		if x.n > 0 {
			e = append(e, fmt.Sprintf("%s %d", x.name, x.n))
		}
	}
	return strings.Join(e, ", ")
}

// runWrk runs wrk pinned on cpu with one thread (one client core).
func runWrk(cpu, url, script string, conns int, d time.Duration) (wrkOut, string, error) {
	// wrk takes whole seconds.
	secs := strconv.Itoa(max(1, int(d.Round(time.Second).Seconds()))) + "s"
	argv := pinned(cpu, wrkBin, "-t1", "-c"+strconv.Itoa(conns), "-d"+secs, "--timeout", "10s", "--latency", "-s", script, url)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := "$ " + strings.Join(argv, " ") + "\n" + out.String()
	if err != nil {
		return wrkOut{}, text, fmt.Errorf("wrk: %v\n%s", err, out.String())
	}
	for line := range strings.Lines(out.String()) {
		if j, ok := strings.CutPrefix(line, "WRKJSON "); ok {
			var o wrkOut
			if err := json.Unmarshal([]byte(j), &o); err != nil {
				return o, text, fmt.Errorf("wrk summary %q: %v", j, err)
			}
			return o, text, nil
		}
	}
	return wrkOut{}, text, fmt.Errorf("wrk printed no summary:\n%s", out.String())
}
