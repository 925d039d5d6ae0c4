// Command weather is a weather dashboard kept current by short polling with
// conditional requests: a poll.Handler serves the topic "weather", whose
// newest message is the current reading of every station. The page asks
// once with after=latest, then polls after its cursor with the ETag of its
// last answer in If-None-Match, so a poll that finds nothing new costs a
// 304 with no body. It shows its requests, its 304s and the bytes it read.
//
//	go run ./examples/weather                      # http://127.0.0.1:8092/
//	go run ./examples/weather -addr :9000 -every 2s -interval 1s
//
// Flags: -addr (listen address, default 127.0.0.1:8092), -every (how often
// the stations report, default 5s), -interval (the polling interval advised
// to the page in X-Poll-Interval, default 1s).
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

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/poll"
)

//go:embed index.html
var page []byte

// newApp returns the app's routes: the page at / and the polling endpoint
// at /poll (topic "weather"), advising clients to poll every interval.
func newApp(b bus.Broker, interval time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /poll", &poll.Handler{Broker: b, Interval: interval, Topic: func(*http.Request) (string, error) { return topic, nil }})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8092", "listen address")
	every := flag.Duration("every", 5*time.Second, "how often the stations report")
	interval := flag.Duration("interval", time.Second, "polling interval advised to the page (X-Poll-Interval)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	b := &bus.Memory{HistorySize: 100}
	defer b.Close()
	st := newStations(time.Now().UnixNano())
	go func() {
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			if err := st.publish(ctx, b); err != nil && ctx.Err() == nil {
				log.Print(err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	srv := &http.Server{Addr: *addr, Handler: newApp(b, *interval), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("weather dashboard on http://%s/", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
