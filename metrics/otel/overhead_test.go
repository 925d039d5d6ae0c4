package otel_test

import (
	"context"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/metrics/otel"
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
				name = "metrics=otel"
			}
			b.Run(fmt.Sprintf("subscribers=%d/%s", n, name), func(b *testing.B) {
				m := &bus.Memory{}
				if on {
					mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
					defer mp.Shutdown(context.Background())
					m.Metrics = &otel.Recorder{Meter: mp.Meter("bench")}
				}
				defer m.Close()
				bustest.FanOutCPU(b, m, n)
			})
		}
	}
}
