// Command chat is a chat with two rooms and presence over the fallback
// client: one auto.Handler serves the rooms' topics (chat/lobby and
// chat/random) over WebSocket, SSE, long polling and polling under /rt,
// and the page uses the library's browser module, /rt/client.js, which
// picks the best transport that works and shows it. The handler's Auth is
// a presence.Memory, so the page lists who is in the room, live. Open it
// in two tabs (add ?transports=sse to one to force a fallback, ?name=… to
// pick a name) and talk.
//
//	go run ./examples/chat                         # http://127.0.0.1:8095/
//	go run ./examples/chat -addr :9000
//
// Flags: -addr (listen address, default 127.0.0.1:8095).
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/pushpull/pushpull/bus"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8095", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	b := &bus.Memory{HistorySize: 200}
	defer b.Close()
	c := newChat(b)
	srv := &http.Server{Addr: *addr, Handler: c.handler(), ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(func() { _ = c.rt.Shutdown(context.Background()) })
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("chat on http://%s/", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
