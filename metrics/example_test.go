package metrics_test

import (
	"fmt"
	"sync"

	"github.com/pushpull/pushpull/metrics"
)

// A tiny Recorder that counts events by Kind.
type counts struct {
	mu sync.Mutex
	n  map[metrics.Kind]int64
}

func (c *counts) Record(e metrics.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[metrics.Kind]int64)
	}
	c.n[e.Kind]++
}

func Example() {
	c := &counts{}
	var logged []string
	r := metrics.Multi(c, nil, metrics.RecorderFunc(func(e metrics.Event) {
		if e.Kind == metrics.ConnClosed {
			logged = append(logged, e.Transport+" closed: "+e.Outcome)
		}
	}))

	// What a handler reports over one connection.
	r.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: "sse", Topic: "orders"})
	r.Record(metrics.Event{Kind: metrics.Delivered, Transport: "sse", Topic: "orders", N: 1, Bytes: 42})
	r.Record(metrics.Event{Kind: metrics.Delivered, Transport: "sse", Topic: "orders", N: 1, Bytes: 40})
	r.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: "sse", Outcome: metrics.ReasonClosed})

	fmt.Println(metrics.ConnOpened, c.n[metrics.ConnOpened])
	fmt.Println(metrics.Delivered, c.n[metrics.Delivered])
	fmt.Println(logged)
	// Output:
	// ConnOpened 1
	// Delivered 2
	// [sse closed: closed]
}

// Topics are counted by class, never by name, unless a TopicClass says so.
func ExamplePrefixes() {
	var none metrics.TopicClass
	fmt.Println(none.Of("orders.eu.42"))

	class := metrics.Prefixes("orders.", "orders.eu.", "chat.")
	for _, topic := range []string{"orders.us.1", "orders.eu.42", "chat.room", "news"} {
		fmt.Println(topic, "->", class.Of(topic))
	}
	// Output:
	// all
	// orders.us.1 -> orders.
	// orders.eu.42 -> orders.eu.
	// chat.room -> chat.
	// news -> other
}
