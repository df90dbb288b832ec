// Command upstream is the load benchmark's stand-in provider: a lean
// net/http server on loopback that answers fixed bodies as cheaply as it
// can, so the proxies in front of it are what gets measured.
//
//	GET /json/1k, /json/100k, /json/1m   fixed JSON documents of exactly 1024,
//	                                     102400 and 1048576 bytes
//	GET /stream/1m, /stream/1g           1 MiB / 1 GiB of bytes, written from
//	                                     one fixed 64 KiB buffer (constant memory)
//	GET /slow/1k, /slow/100k, /slow/1m   the /json document after -slow-delay
//	                                     (so that identical calls overlap)
//	GET /stats                           {"accepted":N,"requests":N,"unauthorized":N}
//
// Every route but /stats requires "Authorization: Bearer <token>" and
// answers 401 otherwise, so a proxy that forgot to add the token is caught
// instead of looking fast. "accepted" counts TCP connections accepted since
// start: the harness compares it before and after a run to prove that
// keep-alive to the upstream held. The counters are also printed on
// SIGUSR1 and at exit.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	accepted     atomic.Int64
	requests     atomic.Int64
	unauthorized atomic.Int64
)

// countingListener counts accepted connections.
type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		accepted.Add(1)
	}
	return c, err
}

// jsonDoc returns a valid JSON document of exactly size bytes: an array of
// small objects (the shape of a typical API answer, so a proxy that
// validates JSON does realistic work), padded to size in the last one.
func jsonDoc(size int) []byte {
	const minTail = len(`{"id":0,"pad":""}]`)
	b := []byte{'['}
	for i := 0; ; i++ {
		item := fmt.Sprintf(`{"id":%d,"name":"item-%06d","active":true,"score":%d.5,"tags":["a","b"]},`, i, i, i%97)
		if len(b)+len(item)+minTail+8 > size {
			break
		}
		b = append(b, item...)
	}
	pad := size - len(b) - minTail
	b = append(b, `{"id":0,"pad":"`...)
	for range pad {
		b = append(b, 'x')
	}
	b = append(b, `"}]`...)
	if len(b) != size || !json.Valid(b) {
		panic(fmt.Sprintf("jsonDoc(%d): built %d bytes", size, len(b)))
	}
	return b
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	token := flag.String("token", "", "the bearer token every request must carry (required)")
	slowDelay := flag.Duration("slow-delay", 200*time.Millisecond, "how long /slow/* waits before it answers")
	flag.Parse()
	log.SetFlags(0)
	if *token == "" {
		log.Fatal("upstream: -token is required")
	}
	wantAuth := "Bearer " + *token

	bodies := map[string][]byte{
		"/json/1k":   jsonDoc(1 << 10),
		"/json/100k": jsonDoc(100 << 10),
		"/json/1m":   jsonDoc(1 << 20),
	}
	streams := map[string]int64{"/stream/1m": 1 << 20, "/stream/1g": 1 << 30}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	// Header values are shared read-only slices: no allocation per request.
	ctJSON := []string{"application/json"}
	ctOctet := []string{"application/octet-stream"}
	lengths := map[string][]string{}
	for p, b := range bodies {
		lengths[p] = []string{strconv.Itoa(len(b))}
	}
	// /slow/<size> answers /json/<size> late. A map of its own keeps the
	// fast routes' lookups as they were.
	slow := map[string]string{}
	for _, size := range []string{"1k", "100k", "1m"} {
		slow["/slow/"+size] = "/json/" + size
	}
	for p, n := range streams {
		lengths[p] = []string{strconv.FormatInt(n, 10)}
	}

	stats := func() []byte {
		b, _ := json.Marshal(map[string]int64{
			"accepted": accepted.Load(), "requests": requests.Load(), "unauthorized": unauthorized.Load(),
		})
		return b
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stats" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(stats())
			return
		}
		requests.Add(1)
		if r.Header.Get("Authorization") != wantAuth {
			unauthorized.Add(1)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		h := w.Header()
		if b, ok := bodies[r.URL.Path]; ok {
			h["Content-Type"] = ctJSON
			h["Content-Length"] = lengths[r.URL.Path]
			w.Write(b)
			return
		}
		if n, ok := streams[r.URL.Path]; ok {
			h["Content-Type"] = ctOctet
			h["Content-Length"] = lengths[r.URL.Path]
			for n > 0 {
				k := min(n, int64(len(chunk)))
				if _, err := w.Write(chunk[:k]); err != nil {
					return
				}
				n -= k
			}
			return
		}
		if p, ok := slow[r.URL.Path]; ok {
			time.Sleep(*slowDelay)
			h["Content-Type"] = ctJSON
			h["Content-Length"] = lengths[p]
			w.Write(bodies[p])
			return
		}
		http.NotFound(w, r)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The harness reads the chosen address from the first line.
	fmt.Println(ln.Addr().String())

	srv := &http.Server{Handler: handler}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range sig {
			fmt.Fprintf(os.Stderr, "upstream stats: %s\n", stats())
			if s != syscall.SIGUSR1 {
				srv.Shutdown(context.Background())
				return
			}
		}
	}()
	if err := srv.Serve(countingListener{ln}); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
