package ws_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/ws"
)

func Example() {
	b := &bus.Memory{}
	defer b.Close()
	h := &ws.Handler{Broker: b}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := ws.NewClient(url)
	if err := c.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	sub, err := c.Subscribe(ctx, "chat", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	// Publish through the same connection and wait for the ack...
	stored, _ := c.Publish(ctx, "chat", bus.Message{Type: "text", Data: []byte("hello")})
	// ...or straight to the broker: subscribers cannot tell.
	b.Publish(ctx, "chat", bus.Message{Type: "text", Data: []byte("world")})

	first := <-sub.C()
	second := <-sub.C()
	fmt.Println(first.ID == stored.ID, first.Type, string(first.Data))
	fmt.Println(string(second.Data))
	// Output:
	// true text hello
	// world
}

// Resume: a consumer that kept the ID of the last message it handled picks
// up after it, on a new connection, with nothing lost or repeated.
func ExampleClient_Subscribe_resume() {
	b := &bus.Memory{}
	defer b.Close()
	h := &ws.Handler{Broker: b}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	var last string
	for _, s := range []string{"a", "b", "c"} {
		m, _ := b.Publish(ctx, "log", bus.Message{Data: []byte(s)})
		if s == "a" {
			last = m.ID // handled "a" before a restart
		}
	}
	c := ws.NewClient(url)
	if err := c.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	sub, _ := c.Subscribe(ctx, "log", last)
	defer sub.Close()
	fmt.Println(string((<-sub.C()).Data), string((<-sub.C()).Data))
	// Output: b c
}

// OnMessage lets an application handle its own frames next to the
// protocol: here, binary frames are echoed back.
func ExampleHandler_onMessage() {
	b := &bus.Memory{}
	defer b.Close()
	h := &ws.Handler{
		Broker: b,
		OnMessage: func(ctx context.Context, c *ws.Conn, typ websocket.MessageType, data []byte) bool {
			if typ != websocket.MessageBinary {
				return false // the protocol's
			}
			c.Send(websocket.MessageBinary, append([]byte("echo: "), data...))
			return true
		},
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	conn, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{ws.Subprotocol}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.CloseNow()
	conn.Write(ctx, websocket.MessageBinary, []byte("ping"))
	_, p, _ := conn.Read(ctx)
	fmt.Println(string(p))
	// Output: echo: ping
}

// The browser client is served by the Go package itself.
func ExampleClientJS() {
	srv := httptest.NewServer(ws.ClientJS())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/pushpull-ws.js")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Header.Get("Content-Type"))
	fmt.Println(strings.Contains(string(body), `export const SUBPROTOCOL = "pushpull.v1"`))
	// Output:
	// text/javascript; charset=utf-8
	// true
}
