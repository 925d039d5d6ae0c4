package metricstest_test

import (
	"fmt"

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
