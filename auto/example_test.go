package auto_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/pushpull/pushpull/auth"
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

// With Auth, every request needs a token; OnPublish signs each message
// with its publisher, whatever the route. The Client asks Token for the
// token of each request, so it survives the server ending connections
// whose token expired.
func ExampleHandler_auth() {
	b := &bus.Memory{}
	defer b.Close()
	bearer := &auth.Bearer{Query: "access_token", Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
		if tok != "alice-token" { // a JWT verifier (module auth/jwt) in production
			return nil, fmt.Errorf("%w: unknown token", auth.ErrUnauthenticated)
		}
		return &auth.Identity{Subject: "alice", Subscribe: []string{"chat/*"}, Publish: []string{"chat/*"}}, nil
	}}
	h := &auto.Handler{Broker: b, Auth: bearer,
		OnPublish: func(_ context.Context, id *auth.Identity, m *bus.Message) error {
			return auth.Stamp(m, "from", id)
		}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	ctx := context.Background()
	anonymous := auto.NewClient(srv.URL)
	_, err := anonymous.Publish(ctx, "chat/lobby", bus.Message{Data: []byte("hi")})
	fmt.Println(err)

	c := &auto.Client{URL: srv.URL, Token: func(context.Context) (string, error) { return "alice-token", nil }}
	_, err = c.Publish(ctx, "chat/lobby", bus.Message{Data: []byte("hi"), Meta: map[string]string{"from": "bob"}})
	fmt.Println(err)
	sub, err := c.Subscribe(ctx, "chat/lobby", bus.Oldest)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	if _, err := c.Publish(ctx, "chat/lobby", bus.Message{Data: []byte("hello")}); err != nil {
		fmt.Println(err)
		return
	}
	m := <-sub.C()
	fmt.Println(m.Meta["from"], "says", string(m.Data))
	// Output:
	// auto: server answered 401 Unauthorized (unauthorized): auth: unauthenticated: no credentials
	// auto: server answered 403 Forbidden (forbidden): access to the topic is denied
	// alice says hello
}
