package bustest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/pushpull/pushpull/bus"
)

// Bench runs the broker benchmarks against brokers made by newBroker:
//
//   - Publish with 0, 1, 100 and 10,000 subscribers, each drained by its own
//     goroutine (metric ns/sub: the cost per subscriber of one publish);
//   - Resume: Subscribe after a cursor 1,000 messages back and receive them
//     all (metric ns/msg);
//   - Read of 100 messages from the history;
//   - PublishParallel: publishers on separate topics;
//   - FanOut: one message reaching 1,000 subscribers of this process,
//     publish then wait until every subscriber has it (metric
//     ns/delivery).
//
// The broker must retain at least 1,000 messages per topic.
func Bench(b *testing.B, newBroker func(tb testing.TB) bus.Broker) {
	for _, n := range []int{0, 1, 100, 10_000} {
		b.Run(fmt.Sprintf("Publish/subscribers=%d", n), func(b *testing.B) {
			benchPublish(b, newBroker, n)
		})
	}
	b.Run("Resume/messages=1000", func(b *testing.B) { benchResume(b, newBroker, 1000) })
	b.Run("Read/limit=100", func(b *testing.B) { benchRead(b, newBroker, 100) })
	b.Run("PublishParallel", func(b *testing.B) { benchPublishParallel(b, newBroker) })
	b.Run("FanOut/subscribers=1000", func(b *testing.B) { benchFanOut(b, newBroker, 1000) })
}

func benchBroker(b *testing.B, newBroker func(tb testing.TB) bus.Broker) bus.Broker {
	b.Helper()
	br := newBroker(b)
	if br == nil {
		b.Fatal("factory returned nil")
	}
	b.Cleanup(func() { _ = br.Close() })
	return br
}

func benchPublish(b *testing.B, newBroker func(tb testing.TB) bus.Broker, subscribers int) {
	br := benchBroker(b, newBroker)
	ctx := context.Background()
	topic := topicName("bench.publish")
	subs := make([]bus.Subscription, 0, subscribers)
	var drained sync.WaitGroup
	for range subscribers {
		sub, err := br.Subscribe(ctx, topic, "")
		if err != nil {
			b.Fatal(err)
		}
		subs = append(subs, sub)
		drained.Add(1)
		go func() {
			defer drained.Done()
			for range sub.C() {
			}
		}()
	}
	data := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := br.Publish(ctx, topic, bus.Message{Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if subscribers > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subscribers), "ns/sub")
	}
	// A publisher on a small machine can outrun its subscribers' goroutines:
	// say how many were cut as slow consumers, since publishing to a cut
	// subscriber costs nothing.
	cut := 0
	for _, sub := range subs {
		if errors.Is(sub.Err(), bus.ErrSlowConsumer) {
			cut++
		}
	}
	if subscribers > 0 {
		b.ReportMetric(float64(cut), "cut")
	}
	for _, sub := range subs {
		_ = sub.Close()
	}
	drained.Wait()
}

func benchResume(b *testing.B, newBroker func(tb testing.TB) bus.Broker, n int) {
	br := benchBroker(b, newBroker)
	ctx := context.Background()
	topic := topicName("bench.resume")
	start, err := br.Top(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64)
	for range n {
		if _, err := br.Publish(ctx, topic, bus.Message{Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sub, err := br.Subscribe(ctx, topic, start)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if _, ok := <-sub.C(); !ok {
				b.Fatalf("subscription ended after %d messages: %v", i, sub.Err())
			}
		}
		_ = sub.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/msg")
}

func benchRead(b *testing.B, newBroker func(tb testing.TB) bus.Broker, limit int) {
	br := benchBroker(b, newBroker)
	ctx := context.Background()
	topic := topicName("bench.read")
	data := make([]byte, 64)
	var first string
	for i := range 1000 {
		m, err := br.Publish(ctx, topic, bus.Message{Data: data})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			first = m.ID
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		msgs, err := br.Read(ctx, topic, first, limit)
		if err != nil || len(msgs) != limit {
			b.Fatalf("read %d messages: %v", len(msgs), err)
		}
	}
}

func benchPublishParallel(b *testing.B, newBroker func(tb testing.TB) bus.Broker) {
	br := benchBroker(b, newBroker)
	ctx := context.Background()
	base := topicName("bench.parallel")
	var seq sync.Mutex
	next := 0
	data := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		seq.Lock()
		topic := fmt.Sprintf("%s.%d", base, next)
		next++
		seq.Unlock()
		for pb.Next() {
			if _, err := br.Publish(ctx, topic, bus.Message{Data: data}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchFanOut(b *testing.B, newBroker func(tb testing.TB) bus.Broker, n int) {
	FanOutCPU(b, benchBroker(b, newBroker), n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
}
