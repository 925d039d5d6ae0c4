//go:build linux

package bus_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
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
// publication. BenchmarkChannelFanOut is the floor to compare it with.
func BenchmarkMemoryPublishFanOut(b *testing.B) {
	for _, n := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			br := &bus.Memory{}
			defer br.Close()
			ctx := context.Background()
			chans := make([]<-chan bus.Message, n)
			subs := make([]bus.Subscription, n)
			for i := range subs {
				sub, err := br.Subscribe(ctx, "fanout", "")
				if err != nil {
					b.Fatal(err)
				}
				subs[i], chans[i] = sub, sub.C()
			}
			data := make([]byte, 64)
			fanOut(b, chans, func() {
				if _, err := br.Publish(ctx, "fanout", bus.Message{Data: data}); err != nil {
					b.Error(err)
				}
			}, func() {
				for _, sub := range subs {
					_ = sub.Close()
				}
			})
		})
	}
}

// BenchmarkMemoryPublishStream publishes back to back to 1,000 and 10,000
// subscribers that read on as fast as they can, as under load: a
// subscriber is often still busy with earlier messages when the next
// arrives, so the publisher hands it over without waking it, and one that
// falls behind its channel catches up from the topic's history. It
// reports the wall time per delivery until every subscriber has every
// message, the publisher's CPU time per subscriber, and allocations per
// publication. BenchmarkMemoryPublishFanOut is the other extreme, every
// subscriber parked before every publication.
func BenchmarkMemoryPublishStream(b *testing.B) {
	for _, n := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			br := &bus.Memory{HistorySize: max(b.N, 1), StallTimeout: time.Minute}
			defer br.Close()
			ctx := context.Background()
			var done sync.WaitGroup
			var bad atomic.Int64
			subs := make([]bus.Subscription, n)
			for i := range subs {
				sub, err := br.Subscribe(ctx, "stream", "")
				if err != nil {
					b.Fatal(err)
				}
				subs[i] = sub
				done.Add(1)
				go func() {
					defer done.Done()
					for got := 0; got < b.N; got++ {
						if _, ok := <-sub.C(); !ok {
							bad.Add(1)
							return
						}
					}
				}()
			}
			defer func() {
				for _, sub := range subs {
					_ = sub.Close()
				}
			}()
			data := make([]byte, 64)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			c0 := threadCPU()
			for range b.N {
				if _, err := br.Publish(ctx, "stream", bus.Message{Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			cpu := threadCPU() - c0
			done.Wait()
			b.StopTimer()
			if bad.Load() > 0 {
				b.Fatalf("%d subscriptions ended early", bad.Load())
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "publisher-cpu-ns/sub")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sub")
		})
	}
}

// BenchmarkChannelFanOut is BenchmarkMemoryPublishFanOut's floor: the
// publisher sends the message on each subscriber's buffered channel
// itself, as the Hub does, with none of the broker's work. What a
// publication costs beyond this is the broker's.
func BenchmarkChannelFanOut(b *testing.B) {
	for _, n := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			send := make([]chan bus.Message, n)
			chans := make([]<-chan bus.Message, n)
			for i := range send {
				send[i] = make(chan bus.Message, 64)
				chans[i] = send[i]
			}
			m := bus.Message{Topic: "fanout", ID: "e-1", Data: make([]byte, 64)}
			fanOut(b, chans, func() {
				for _, c := range send {
					select {
					case c <- m:
					default:
					}
				}
			}, func() {
				for _, c := range send {
					close(c)
				}
			})
		})
	}
}

// fanOut runs a goroutine per channel of chans, each taking its messages,
// and times publish, which must hand one message to every one of them,
// after they have all taken the previous one. end ends the channels.
func fanOut(b *testing.B, chans []<-chan bus.Message, publish, end func()) {
	n := len(chans)
	var got, drained sync.WaitGroup
	for _, c := range chans {
		drained.Add(1)
		go func() {
			defer drained.Done()
			for range c {
				got.Done()
			}
		}()
	}
	defer func() {
		end()
		drained.Wait()
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		got.Add(n)
		c0 := threadCPU()
		publish()
		cpu += threadCPU() - c0
		got.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "publisher-cpu-ns/sub")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sub")
}
