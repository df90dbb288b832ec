package testenv

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// Clock is a settable clock shared by the components of a test, so TTLs,
// expiries and schedules are tested without sleeping.
type Clock struct{ t atomic.Int64 }

// NewClock returns a clock set to the current time.
func NewClock() *Clock {
	c := &Clock{}
	c.t.Store(time.Now().UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.t.Load()) }

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) { c.t.Add(int64(d)) }

// WaitUntil polls cond, yielding between tries (not sleeping), and fails
// the test if it does not hold within 10 s. It is for waiting on other
// goroutines of the same test (callers joining a flight, requests
// arriving), never for time to pass.
func WaitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		runtime.Gosched()
	}
}
