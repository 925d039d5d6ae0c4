package longpoll_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
)

// A request with nothing to answer is held until a message is published.
func ExampleHandler() {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b}
	srv := httptest.NewServer(h)
	defer srv.Close()

	done := make(chan string)
	go func() {
		resp, err := http.Get(srv.URL + "?topic=chat") // no cursor: wait for what comes next
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		var answer struct {
			Messages []struct{ Data string }
		}
		json.NewDecoder(resp.Body).Decode(&answer)
		done <- answer.Messages[0].Data
	}()
	for h.Held() == 0 { // for the example's sake: publish once the request is held
		time.Sleep(time.Millisecond)
	}
	b.Publish(context.Background(), "chat", bus.Message{Data: []byte("hi there")})
	fmt.Println(<-done)
	// Output:
	// hi there
}

// Subscribe to a remote topic: the Client implements bus.Subscriber.
func ExampleClient_Subscribe() {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	ctx := context.Background()

	var sub bus.Subscriber = longpoll.NewClient(srv.URL)
	s, err := sub.Subscribe(ctx, "orders", "") // what is published from now on
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
// subscribes with longpoll.Latest. With "" it would show only the values
// published after Subscribe returned.
func ExampleClient_Subscribe_latest() {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	ctx := context.Background()
	b.Publish(ctx, "temperature", bus.Message{Data: []byte("19.5")})
	b.Publish(ctx, "temperature", bus.Message{Data: []byte("20.1")})

	s, err := longpoll.NewClient(srv.URL).Subscribe(ctx, "temperature", longpoll.Latest)
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

// Shutdown answers held requests at once; hook it to the server's shutdown.
func ExampleHandler_Shutdown() {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.RegisterOnShutdown(func() { h.Shutdown(context.Background()) })
	srv.Start()
	defer srv.Close()

	status := make(chan string)
	go func() {
		resp, err := http.Get(srv.URL + "?topic=chat")
		if err != nil {
			status <- err.Error()
			return
		}
		resp.Body.Close()
		status <- resp.Status
	}()
	for h.Held() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	srv.Config.Shutdown(context.Background())
	fmt.Println(<-status, time.Since(start) < longpoll.DefaultTimeout)
	// Output:
	// 200 OK true
}

// Serve through the Handler's Listener: held requests leave net/http (and
// its per-connection memory) until they are answered, and the client keeps
// its connection alive across requests. Register Shutdown so that the
// server's Shutdown ends held requests too.
func ExampleHandler_Listener() {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = h.Listener(srv.Listener) // for your own server: srv.Serve(h.Listener(ln))
	srv.Config.RegisterOnShutdown(func() { h.Shutdown(context.Background()) })
	srv.Start()
	defer srv.Close()
	defer h.Shutdown(context.Background())

	c := &longpoll.Client{URL: srv.URL + "/", HTTPClient: srv.Client()}
	sub, err := c.Subscribe(context.Background(), "chat", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	for _, text := range []string{"one", "two"} {
		for h.Held() == 0 { // for the example's sake: publish once a request is held
			time.Sleep(time.Millisecond)
		}
		b.Publish(context.Background(), "chat", bus.Message{Data: []byte(text)})
		m := <-sub.C()
		fmt.Println(string(m.Data))
	}
	// Output:
	// one
	// two
}
