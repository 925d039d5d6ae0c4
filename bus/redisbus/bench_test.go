package redisbus_test

import (
	"context"
	"sync"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

func BenchmarkRedis(b *testing.B) {
	url := redisURL(b)
	bustest.Bench(b, func(tb testing.TB) bus.Broker { return newBroker(tb, url, freshPrefix(tb, url)) })
}

// BenchmarkFanOut measures one message reaching 1,000 subscribers of this
// process: publish, then wait until every subscriber has it.
func BenchmarkFanOut(b *testing.B) {
	url := redisURL(b)
	for _, tc := range []struct {
		name string
		mk   func(tb testing.TB) bus.Broker
	}{
		{"Memory", func(testing.TB) bus.Broker { return &bus.Memory{} }},
		{"Redis", func(tb testing.TB) bus.Broker { return newBroker(tb, url, freshPrefix(tb, url)) }},
	} {
		b.Run(tc.name+"/subscribers=1000", func(b *testing.B) { benchFanOut(b, tc.mk(b), 1000) })
	}
}

func benchFanOut(b *testing.B, br bus.Broker, n int) {
	defer br.Close()
	ctx := context.Background()
	const topic = "fanout"
	var wg sync.WaitGroup
	subs := make([]bus.Subscription, n)
	for i := range n {
		sub, err := br.Subscribe(ctx, topic, "")
		if err != nil {
			b.Fatal(err)
		}
		subs[i] = sub
	}
	var got sync.WaitGroup
	for _, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range sub.C() {
				got.Done()
			}
		}()
	}
	data := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		got.Add(n)
		if _, err := br.Publish(ctx, topic, bus.Message{Data: data}); err != nil {
			b.Fatal(err)
		}
		got.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
	for _, sub := range subs {
		_ = sub.Close()
	}
	wg.Wait()
}
