package poll_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/poll"
)

// Serve a topic for polling and read the current state with plain HTTP.
func ExampleHandler() {
	b := &bus.Memory{}
	defer b.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /state/{topic}", &poll.Handler{Broker: b})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := context.Background()
	b.Publish(ctx, "temperature", bus.Message{Data: []byte("19.5")})
	b.Publish(ctx, "temperature", bus.Message{Data: []byte("20.1")})

	resp, err := http.Get(srv.URL + "/state/temperature?after=" + poll.Latest) // the newest message
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Messages []struct{ Data string }
		Cursor   string
	}
	json.NewDecoder(resp.Body).Decode(&answer)
	fmt.Println(resp.Status, resp.Header.Get("X-Poll-Interval"), answer.Messages[0].Data, answer.Cursor != "")
	// Output:
	// 200 OK 2 20.1 true
}

// A client that sends the ETag of its previous answer gets 304 Not Modified
// while nothing new is published.
func ExampleHandler_conditional() {
	b := &bus.Memory{}
	defer b.Close()
	srv := httptest.NewServer(&poll.Handler{Broker: b})
	defer srv.Close()
	b.Publish(context.Background(), "news", bus.Message{Data: []byte("hello")})

	get := func(after, etag string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL+"?topic=news&after="+after, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var answer struct{ Cursor string }
		json.NewDecoder(resp.Body).Decode(&answer)
		return resp, answer.Cursor
	}
	resp, cursor := get(bus.Oldest, "")
	fmt.Println(resp.StatusCode)
	resp, _ = get(cursor, resp.Header.Get("ETag"))
	fmt.Println(resp.StatusCode)
	// Output:
	// 200
	// 304
}

// Subscribe to a remote topic: the Client implements bus.Subscriber.
func ExampleClient_Subscribe() {
	b := &bus.Memory{}
	defer b.Close()
	srv := httptest.NewServer(&poll.Handler{Broker: b, Interval: 10 * time.Millisecond})
	defer srv.Close()
	ctx := context.Background()

	var sub bus.Subscriber = &poll.Client{URL: srv.URL, Interval: 10 * time.Millisecond}
	s, err := sub.Subscribe(ctx, "orders", bus.Oldest)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	for _, id := range []string{"A1", "B2"} {
		b.Publish(ctx, "orders", bus.Message{Type: "order.created", Data: []byte(id)})
	}
	for range 2 {
		m := <-s.C()
		fmt.Println(m.Type, string(m.Data))
	}
	// Output:
	// order.created A1
	// order.created B2
}

// A dashboard shows the current value at once, then each new one: it
// subscribes with poll.Latest. With "" it would show only the values
// published after Subscribe returned.
func ExampleClient_Subscribe_latest() {
	b := &bus.Memory{}
	defer b.Close()
	srv := httptest.NewServer(&poll.Handler{Broker: b, Interval: 10 * time.Millisecond})
	defer srv.Close()
	ctx := context.Background()
	b.Publish(ctx, "temperature", bus.Message{Data: []byte("19.5")})
	b.Publish(ctx, "temperature", bus.Message{Data: []byte("20.1")})

	c := &poll.Client{URL: srv.URL, Interval: 10 * time.Millisecond}
	s, err := c.Subscribe(ctx, "temperature", poll.Latest)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println("now:", string((<-s.C()).Data))
	b.Publish(ctx, "temperature", bus.Message{Data: []byte("20.7")})
	fmt.Println("then:", string((<-s.C()).Data))
	// Output:
	// now: 20.1
	// then: 20.7
}

// A cursor that left the history is refused with bus.ErrCursorExpired and
// the topic's top: reload the state, then continue after the top.
func ExampleClient_Subscribe_expired() {
	b := &bus.Memory{HistorySize: 2}
	defer b.Close()
	srv := httptest.NewServer(&poll.Handler{Broker: b, Interval: 10 * time.Millisecond})
	defer srv.Close()
	ctx := context.Background()
	first, _ := b.Publish(ctx, "orders", bus.Message{Data: []byte("1")})
	for _, d := range []string{"2", "3", "4"} {
		b.Publish(ctx, "orders", bus.Message{Data: []byte(d)})
	}

	c := &poll.Client{URL: srv.URL, Interval: 10 * time.Millisecond}
	_, err := c.Subscribe(ctx, "orders", first.ID)
	top, ok := bus.TopOf(err)
	fmt.Println(errors.Is(err, bus.ErrCursorExpired), ok)

	latest, _ := b.Read(ctx, "orders", "", 1) // reload the state...
	fmt.Println("state:", string(latest[0].Data), latest[0].ID == top)
	s, err := c.Subscribe(ctx, "orders", top) // ...and continue after the top
	if err != nil {
		panic(err)
	}
	defer s.Close()
	b.Publish(ctx, "orders", bus.Message{Data: []byte("5")})
	fmt.Println("next:", string((<-s.C()).Data))
	// Output:
	// true true
	// state: 4 true
	// next: 5
}
