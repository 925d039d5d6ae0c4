package auto_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
)

// A Handler serves a topic over every transport; a Client subscribes over
// the best one and publishes over HTTP.
func ExampleClient() {
	b := &bus.Memory{}
	defer b.Close()
	h := &auto.Handler{Broker: b, Prefix: "/rt"}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	ctx := context.Background()
	c := auto.NewClient(srv.URL + "/rt")
	sub, err := c.Subscribe(ctx, "news", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	if _, err := c.Publish(ctx, "news", bus.Message{Data: []byte("hello")}); err != nil {
		fmt.Println(err)
		return
	}
	m := <-sub.C()
	fmt.Println(string(m.Data), "over", sub.(*auto.Subscription).Transport())
	// Output: hello over websocket
}

// Transports can be switched off, and a Client can be told which to use.
func ExampleHandler_transports() {
	b := &bus.Memory{}
	defer b.Close()
	h := &auto.Handler{Broker: b, Transports: []string{auto.SSE, auto.LongPoll}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	ctx := context.Background()
	first, _ := b.Publish(ctx, "news", bus.Message{Data: []byte("one")})
	b.Publish(ctx, "news", bus.Message{Data: []byte("two")})

	c := &auto.Client{URL: srv.URL, Transports: []string{auto.LongPoll}}
	sub, err := c.Subscribe(ctx, "news", first.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	m := <-sub.C()
	fmt.Println(string(m.Data), "over", sub.(*auto.Subscription).Transport())
	// Output: two over longpoll
}
