// Command auto is a small chat-like feed served over every transport by one
// auto.Handler: the page subscribes with the library's browser module,
// which uses WebSocket when it works and falls back to SSE, long polling
// or polling when it does not, and shows which one it uses. Messages typed
// in the page are published over HTTP POST.
//
//	go run ./examples/auto -addr 127.0.0.1:8085
package main

import (
	"context"
	_ "embed"
	"flag"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
)

//go:embed index.html
var page []byte

// newApp returns the app's routes: the page at / and the transports,
// negotiate, publish and the browser module under /rt/.
func newApp(h *auto.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/rt/", h)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8085", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	b := &bus.Memory{}
	defer b.Close()
	h := &auto.Handler{Broker: b, Prefix: "/rt"}
	srv := &http.Server{Addr: *addr, Handler: newApp(h), ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(func() { _ = h.Shutdown(context.Background()) })
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
