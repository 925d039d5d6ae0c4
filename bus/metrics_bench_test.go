package bus_test

import (
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
//	go test -run '^$' -bench 'MetricsOverhead/.*/(Publish/subscribers=(1|100)|FanOut)' -count 6 ./bus > m.txt
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
