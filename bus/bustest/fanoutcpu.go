package bustest

import (
	"context"
	"sync"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
)

// FanOutCPU publishes b.N messages to subscribers subscriptions of br, each
// drained by a goroutine of its own, waiting after each publication until
// every subscriber has it, and reports the process's CPU time per
// publication ("cpu-ns/op") beside the wall time: on a shared machine other
// work disturbs it much less. Benchmarks of an option's overhead (a
// metrics.Recorder, say) run it with and without the option, alternating,
// and compare with benchstat.
func FanOutCPU(b *testing.B, br bus.Broker, subscribers int) {
	ctx := context.Background()
	topic := topicName("bench.fanoutcpu")
	var got, drained sync.WaitGroup
	subs := make([]bus.Subscription, subscribers)
	for i := range subs {
		sub, err := br.Subscribe(ctx, topic, "")
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
	start := testnet.CPUTime()
	b.ResetTimer()
	for range b.N {
		got.Add(subscribers)
		if _, err := br.Publish(ctx, topic, bus.Message{Data: data}); err != nil {
			b.Fatal(err)
		}
		got.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(testnet.CPUTime()-start)/float64(b.N), "cpu-ns/op")
	for _, sub := range subs {
		_ = sub.Close()
	}
	drained.Wait()
}
