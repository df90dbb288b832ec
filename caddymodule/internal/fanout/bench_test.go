package fanout

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkCacheMemory100k fills the cache with 100,000 distinct answers
// of 1 KiB (about 100 MiB of answers) under the default 64 MiB bound and
// reports the heap the cache holds against max_bytes. The target:
// within max_bytes + 20 %.
func BenchmarkCacheMemory100k(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		s := New(Config{}, nil)
		for i := range 100_000 {
			key := fmt.Sprintf("%064x", i) // as long as a real key (hex SHA-256)
			body := make([]byte, 1024)
			s.Do(context.Background(), Call{Key: key, Passport: fmt.Sprint("passport-", i%50), TTL: time.Hour},
				func(context.Context) Answer { return Answer{Value: body, Status: 200, Size: int64(len(body))} })
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		accounted, entries := s.CachedBytes()
		held := float64(after.HeapInuse) - float64(before.HeapInuse)
		b.ReportMetric(held/(1<<20), "heap-MiB")
		b.ReportMetric(float64(accounted)/(1<<20), "accounted-MiB")
		b.ReportMetric(float64(entries), "entries")
		b.ReportMetric(held/float64(DefaultMaxBytes), "heap/max_bytes")
		runtime.KeepAlive(s)
	}
}
