// Command ticker is a stock ticker over Server-Sent Events: a simulated
// market publishes a tick (every symbol's price, numbered) on the topic
// "ticker", an sse.Handler streams it at /events, and the page reads it
// with EventSource. "Drop connection" has the server cut every stream: the
// browser reconnects by itself, sending the ID of the last tick it got in
// Last-Event-ID, and the server resumes right after it, so the page's tick
// numbers stay contiguous.
//
//	go run ./examples/ticker                       # http://127.0.0.1:8094/
//	go run ./examples/ticker -addr :9000 -every 250ms
//
// Flags: -addr (listen address, default 127.0.0.1:8094), -every (the
// interval between ticks, default 500ms).
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
	addr := flag.String("addr", "127.0.0.1:8094", "listen address")
	every := flag.Duration("every", 500*time.Millisecond, "interval between ticks")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	b := &bus.Memory{}
	defer b.Close()
	a := newApp(b, time.Second)
	srv := &http.Server{Addr: *addr, Handler: a, ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(func() { _ = a.sse.Shutdown(context.Background()) })
	go func() {
		m := newMarket(time.Now().UnixNano())
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := m.publish(ctx, b); err != nil && ctx.Err() == nil {
					log.Print(err)
				}
			}
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("stock ticker on http://%s/", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
