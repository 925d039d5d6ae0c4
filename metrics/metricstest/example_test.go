package metricstest_test

import (
	"context"
	"fmt"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
)

func ExampleRecorder() {
	var r metricstest.Recorder
	r.Record(metrics.Event{Kind: metrics.Delivered, Transport: "ws", N: 3})
	r.Record(metrics.Event{Kind: metrics.Delivered, Transport: "sse", N: 2})
	r.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: "ws", Outcome: metrics.ReasonSlow})

	fmt.Println(r.Count(metrics.Delivered, metrics.Event{}), r.Sum(metrics.Delivered, metrics.Event{}))
	fmt.Println(r.Sum(metrics.Delivered, metrics.Event{Transport: "ws"}))
	fmt.Println(r.Count(metrics.ConnClosed, metrics.Event{Outcome: metrics.ReasonSlow}))
	// Output:
	// 2 5
	// 3
	// 1
}

// A transport's test passes its *testing.T, its Broker and its Client's
// Subscribe; here the broker subscribes itself, and a stand-in for the
// test runs the cleanups that close the subscriptions.
func ExampleLive() {
	t := &exampleT{}
	rec := &metricstest.Recorder{}
	b := &bus.Memory{HistorySize: 8, Metrics: rec}
	defer b.Close()

	live, first := metricstest.Live(t, context.Background(), b, b.Subscribe, bus.Message{Data: []byte("hi")}, 2, 3)
	fmt.Println(len(live), "subscriptions got", rec.Count(metrics.BusPublished, metrics.Event{Topic: metricstest.Topic}), "messages")
	fmt.Println("the first:", first.ID != "", string(first.Data))

	t.end()
	fmt.Println(rec.Count(metrics.BusUnsubscribed, metrics.Event{}), "closed when the test ends")
	// Output:
	// 2 subscriptions got 3 messages
	// the first: true hi
	// 2 closed when the test ends
}

// exampleT stands in for the *testing.T of a test: it panics on a failure
// and runs the cleanups when end is called.
type exampleT struct{ cleanups []func() }

func (*exampleT) Helper()                           {}
func (*exampleT) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (*exampleT) FailNow()                          { panic("test failed") }
func (t *exampleT) Cleanup(f func())                { t.cleanups = append(t.cleanups, f) }

func (t *exampleT) end() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
