package testenv

import (
	"sync/atomic"
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
