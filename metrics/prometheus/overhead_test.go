package prometheus_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics/prometheus"
)

// BenchmarkMetricsOverhead publishes to 1, 100 and 1,000 subscribers of a
// Memory broker, without a Recorder and with this one, alternating, and
// reports the process's CPU time per publish (cpu-ns/op) next to the wall
// time: other work on a shared machine disturbs it much less.
//
//	go test -run '^$' -bench MetricsOverhead -count 6 . > f.txt
//	benchstat -col /metrics -filter '.unit:cpu-ns/op' f.txt
func BenchmarkMetricsOverhead(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		for _, on := range []bool{false, true} {
			name := "metrics=off"
			if on {
				name = "metrics=prometheus"
			}
			b.Run(fmt.Sprintf("subscribers=%d/%s", n, name), func(b *testing.B) {
				m := &bus.Memory{}
				if on {
					rec := &prometheus.Recorder{}
					prom.NewRegistry().MustRegister(rec)
					m.Metrics = rec
				}
				defer m.Close()
				benchFanOutCPU(b, m, n)
			})
		}
	}
}

// benchFanOutCPU publishes to n subscribers, each drained by a goroutine
// of its own, and waits until every one has each message.
func benchFanOutCPU(b *testing.B, br bus.Broker, n int) {
	ctx := context.Background()
	var got, drained sync.WaitGroup
	subs := make([]bus.Subscription, n)
	for i := range subs {
		sub, err := br.Subscribe(ctx, "fan", "")
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
	data := make([]byte, 64)
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	for range b.N {
		got.Add(n)
		if _, err := br.Publish(ctx, "fan", bus.Message{Data: data}); err != nil {
			b.Fatal(err)
		}
		got.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	for _, sub := range subs {
		_ = sub.Close()
	}
	drained.Wait()
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
