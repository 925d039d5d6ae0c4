// Command polling serves one page that follows a topic twice, by short
// polling and by long polling, with fetch. Publish with
//
//	curl -d 'hello' localhost:8080/publish/demo
//
// or let the built-in ticker publish the time every few seconds (-tick).
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/poll"
)

//go:embed index.html
var static embed.FS

// app is the demo: the broker, the two handlers and the page.
type app struct {
	broker   *bus.Memory
	poll     *poll.Handler
	longpoll *longpoll.Handler
}

func newApp(b *bus.Memory, interval time.Duration) *app {
	return &app{
		broker:   b,
		poll:     &poll.Handler{Broker: b, Interval: interval},
		longpoll: &longpoll.Handler{Broker: b},
	}
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /poll/{topic}", a.poll)
	mux.Handle("GET /longpoll/{topic}", a.longpoll)
	mux.HandleFunc("POST /publish/{topic}", a.publish)
	mux.Handle("GET /", http.FileServerFS(static))
	return mux
}

func (a *app) publish(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m, err := a.broker.Publish(r.Context(), r.PathValue("topic"), bus.Message{Type: r.URL.Query().Get("type"), Data: data})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = io.WriteString(w, m.ID+"\n")
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	tick := flag.Duration("tick", 5*time.Second, "publish the time to topic demo this often (0: never)")
	flag.Parse()

	b := &bus.Memory{}
	defer b.Close()
	a := newApp(b, 2*time.Second)
	srv := &http.Server{Addr: *addr, Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { _ = a.longpoll.Shutdown(context.Background()) })

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if *tick <= 0 {
			return
		}
		t := time.NewTicker(*tick)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				_, _ = b.Publish(ctx, "demo", bus.Message{Type: "tick", Data: []byte(now.Format(time.TimeOnly))})
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("polling demo on http://%s/", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done
}
