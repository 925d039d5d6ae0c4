//go:build linux

package bus_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// threadCPU returns the CPU time the calling thread has used so far.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMemoryPublishFanOut publishes to 1,000 and 10,000 subscribers
// that have all drained their channels, so that every publication hands
// its message to every one of them and wakes each one's goroutine: the
// costliest case for the publisher. It reports the publisher's CPU time
// per subscriber (its thread's, so other processes on a loaded machine
// do not count), the wall time per subscriber (which includes the
// subscribers' goroutines taking their messages), and allocations per
// publication.
func BenchmarkMemoryPublishFanOut(b *testing.B) {
	for _, n := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			br := &bus.Memory{}
			defer br.Close()
			ctx := context.Background()
			var got, drained sync.WaitGroup
			subs := make([]bus.Subscription, n)
			defer func() {
				for _, sub := range subs {
					if sub != nil {
						_ = sub.Close()
					}
				}
				drained.Wait()
			}()
			for i := range subs {
				sub, err := br.Subscribe(ctx, "fanout", "")
				if err != nil {
					b.Fatal(err)
				}
				subs[i] = sub
				drained.Add(1)
				go func() {
					defer drained.Done()
					for range sub.C() {
						got.Done()
					}
				}()
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			data := make([]byte, 64)
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				got.Add(n)
				c0 := threadCPU()
				if _, err := br.Publish(ctx, "fanout", bus.Message{Data: data}); err != nil {
					b.Fatal(err)
				}
				cpu += threadCPU() - c0
				got.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "publisher-cpu-ns/sub")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sub")
		})
	}
}
