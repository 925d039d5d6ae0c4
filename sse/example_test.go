package sse_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/sse"
)

// Serve a topic as Server-Sent Events and read it with the Client.
func ExampleHandler() {
	b := &bus.Memory{}
	defer b.Close()
	h := &sse.Handler{Broker: b}
	mux := http.NewServeMux()
	mux.Handle("GET /events/{topic}", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := sse.NewClient(srv.URL+"/events/{topic}").Subscribe(ctx, "scores", "")
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	for _, s := range []string{"1-0", "1-1", "2-1"} {
		_, _ = b.Publish(ctx, "scores", bus.Message{Type: "goal", Data: []byte(s)})
	}
	for range 3 {
		m := <-sub.C()
		fmt.Println(m.Type, string(m.Data))
	}
	// Output:
	// goal 1-0
	// goal 1-1
	// goal 2-1
}

// A consumer that comes back later resumes after the last ID it saw; when
// that ID has left the history it gets bus.ErrCursorExpired and the top.
func ExampleClient_Subscribe() {
	b := &bus.Memory{HistorySize: 3}
	defer b.Close()
	srv := httptest.NewServer(&sse.Handler{Broker: b})
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := sse.NewClient(srv.URL) // the topic goes in the query

	var ids []string
	for i := 1; i <= 5; i++ {
		m, _ := b.Publish(ctx, "ticks", bus.Message{Data: fmt.Appendf(nil, "tick %d", i)})
		ids = append(ids, m.ID)
	}

	sub, _ := c.Subscribe(ctx, "ticks", ids[2]) // saw ticks 1 to 3
	for range 2 {
		m := <-sub.C()
		fmt.Println(string(m.Data))
	}
	sub.Close()

	sub, _ = c.Subscribe(ctx, "ticks", ids[0]) // tick 2 is gone
	for range sub.C() {
	}
	top, _ := bus.TopOf(sub.Err())
	fmt.Println(errors.Is(sub.Err(), bus.ErrCursorExpired), top == ids[4])
	// Output:
	// tick 4
	// tick 5
	// true true
}

// Parse any event stream.
func ExampleParse() {
	body := "retry: 1000\n: a comment\nid: 1\nevent: greeting\ndata: hello\ndata: world\n\ndata: no type\n\n"
	for ev, err := range sse.Parse(strings.NewReader(body)) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%q %q %q\n", ev.ID, ev.Type, ev.Data)
	}
	// Output:
	// "1" "greeting" "hello\nworld"
	// "1" "" "no type"
}
