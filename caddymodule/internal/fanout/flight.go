package fanout

import "sync"

// flights are the shared calls in flight, by key. Hand-written rather
// than golang.org/x/sync/singleflight: a flight here outlives the caller
// that started it (it runs on its own goroutine and fills the cache), and
// every waiter leaves on its own context, which singleflight's Do does not
// allow and DoChan makes awkward to combine with the cache's "fill, then
// land" order.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one shared upstream request. answer and err are set before
// done is closed and never change after.
type flight struct {
	done   chan struct{}
	answer Answer
	err    error
	joined int // callers that joined, the leader included (guarded by flights.mu)
}

func (fs *flights) init() { fs.m = make(map[string]*flight) }

// join returns the flight for key, starting one if there is none; leader
// reports whether the caller started it and must run it.
func (fs *flights) join(key string) (f *flight, leader bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		f.joined++
		return f, false
	}
	f = &flight{done: make(chan struct{}), joined: 1}
	fs.m[key] = f
	return f, true
}

// land settles f. The cache is filled before (see Stage.fly), so a call
// arriving after the flight left the map finds the cached answer.
func (fs *flights) land(key string, f *flight, a Answer, err error) {
	fs.mu.Lock()
	delete(fs.m, key)
	fs.mu.Unlock()
	f.answer, f.err = a, err
	close(f.done)
}

// joined returns how many callers share key's flight; 0 when none is in
// flight. Tests wait on it to know every caller is in before the answer.
func (fs *flights) joined(key string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		return f.joined
	}
	return 0
}
