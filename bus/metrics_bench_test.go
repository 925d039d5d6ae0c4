package bus_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/metrics"
)

// tally is the cheapest useful Recorder: one atomic add per event.
type tally struct{ n [256]atomic.Int64 }

func (c *tally) Record(e metrics.Event) { c.n[e.Kind].Add(e.N + 1) }

// BenchmarkMetricsOverhead runs the broker benchmarks on Memory without a
// Recorder and with one, in the same run, so benchstat compares them:
//
//	go test -run '^$' -bench 'MetricsOverhead/metrics=/(Publish|FanOut)/subscribers=(1|100|1000)$' -count 6 ./bus > m.txt
//	benchstat -col /metrics m.txt
func BenchmarkMetricsOverhead(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "metrics=off"
		if on {
			name = "metrics=on"
		}
		b.Run(name, func(b *testing.B) {
			bustest.Bench(b, func(testing.TB) bus.Broker {
				m := &bus.Memory{}
				if on {
					m.Metrics = &tally{}
				}
				return m
			})
		})
	}
}

// BenchmarkMetricsFanOut publishes to 1, 100 and 1,000 subscribers of a
// Memory broker, without a Recorder and with one, alternating, and reports
// the process's CPU time per publish (cpu-ns/op) next to the wall time:
// other work on a shared machine disturbs it much less.
//
//	go test -run '^$' -bench MetricsFanOut -count 6 ./bus > f.txt
//	benchstat -col /metrics -filter '.unit:cpu-ns/op' f.txt
func BenchmarkMetricsFanOut(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		for _, on := range []bool{false, true} {
			name := "metrics=off"
			if on {
				name = "metrics=on"
			}
			b.Run(fmt.Sprintf("subscribers=%d/%s", n, name), func(b *testing.B) {
				m := &bus.Memory{}
				if on {
					m.Metrics = &tally{}
				}
				defer m.Close()
				bustest.FanOutCPU(b, m, n)
			})
		}
	}
}
