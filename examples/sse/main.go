// Command sse is a small live feed: a page whose EventSource shows a tick
// published every second by an sse.Handler. Stop the server for a moment and
// start it again: the page reconnects with Last-Event-ID and misses nothing
// retained by the broker (within one process run).
//
//	go run ./examples/sse -addr 127.0.0.1:8081
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/sse"
)

//go:embed index.html
var page []byte

// newApp returns the app's routes: the page at / and the streams at
// /events/{topic}.
func newApp(b bus.Broker, h *sse.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /events/{topic}", h)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	b := &bus.Memory{}
	defer b.Close()
	h := &sse.Handler{Broker: b}
	srv := &http.Server{Addr: *addr, Handler: newApp(b, h), ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(func() { _ = h.Shutdown(context.Background()) })

	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for i := 1; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = b.Publish(ctx, "demo", bus.Message{Type: "tick", Data: fmt.Appendf(nil, "%d", i)})
			}
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("listening on http://%s", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
