// Command showcase is pushpull's main demo: one in-memory bus served five
// ways at once. A ticker and a form publish to the topic "news"; the page
// shows it arriving by short polling, long polling, Server-Sent Events and a
// WebSocket, and through a webhook: a Dispatcher signs and posts each message
// to a Receiver mounted in the same app, which publishes what it verified to
// the topic "inbox", shown on the page over SSE.
//
// Run it from the repository root and open the address it prints:
//
//	go run ./examples/showcase
//
// With -pg, the bus is PostgreSQL (bus/pgbus) instead of memory, so several
// instances share it and it survives restarts:
//
//	go run ./examples/showcase -pg postgres://postgres@127.0.0.1:5432/test
//
// Stop and restart a panel's connection (or the network) and it resumes
// from its cursor: no gap, no duplicate.
//
// GET /healthz is the readiness probe (package health): the bus and the
// webhook Dispatcher, as JSON, 200 when ready and 503 when not.
//
// /metrics serves the metrics of every handler, the webhook Dispatcher and
// Receiver, and the in-memory bus, in the
// Prometheus text format (metrics/prometheus); topics are counted under
// the classes "news", "inbox" and "other".
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/pgbus"
	"github.com/pushpull/pushpull/health"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/prometheus"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/ws"
)

//go:embed index.html
var page []byte

// Topics of the demo.
const (
	newsTopic  = "news"
	inboxTopic = "inbox"
)

// app holds the demo's bus and the handlers that need shutting down.
type app struct {
	bus        bus.Broker
	sse        *sse.Handler
	longpoll   *longpoll.Handler
	ws         *ws.Handler
	dispatcher *webhook.Dispatcher
	mux        *http.ServeMux
	metrics    *prometheus.Recorder // every handler's, served on /metrics
}

// newApp wires every pattern to the bus b; baseURL is where the app itself
// is reachable, for the webhook dispatcher to post to.
func newApp(baseURL string, b bus.Broker) (*app, error) {
	secret, err := webhook.GenerateSecret()
	if err != nil {
		return nil, err
	}
	keys := webhook.Secrets(secret)
	rec := &prometheus.Recorder{TopicClass: metrics.Prefixes(newsTopic, inboxTopic)}
	reg := prom.NewRegistry()
	if err := reg.Register(rec); err != nil {
		return nil, err
	}
	if m, ok := b.(*bus.Memory); ok && m.Metrics == nil {
		m.Metrics = rec // not used yet: its fields may still be set
	}
	a := &app{
		bus:      b,
		sse:      &sse.Handler{Broker: b, Heartbeat: 10 * time.Second, Metrics: rec},
		longpoll: &longpoll.Handler{Broker: b, Timeout: 20 * time.Second, Metrics: rec},
		ws:       &ws.Handler{Broker: b, Metrics: rec},
		dispatcher: &webhook.Dispatcher{
			Broker: b,
			Sender: &webhook.Sender{
				AllowPrivateNetworks: true, // the demo delivers to itself on loopback
				Timeout:              2 * time.Second,
				Schedule:             []time.Duration{time.Second, 2 * time.Second, 5 * time.Second},
			},
			Metrics: rec,
		},
		mux:     http.NewServeMux(),
		metrics: rec,
	}
	err = a.dispatcher.Add(webhook.Endpoint{
		ID: "showcase", URL: baseURL + "/hooks/news", Keys: keys, Topic: newsTopic, From: bus.Oldest,
	})
	if err != nil {
		return nil, err
	}
	receiver := &webhook.Receiver{Keys: keys, Broker: b, Metrics: rec,
		Topic: func(*http.Request) (string, error) { return inboxTopic, nil }}

	m := a.mux
	m.Handle("GET /poll/{topic}", &poll.Handler{Broker: b, Interval: 2 * time.Second, Metrics: rec})
	m.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m.Handle("GET /longpoll/{topic}", a.longpoll)
	m.Handle("GET /sse/{topic}", a.sse)
	m.Handle("GET /ws", a.ws)
	m.Handle("GET /pushpull-ws.js", ws.ClientJS())
	m.Handle("POST /hooks/news", receiver)
	m.HandleFunc("POST /publish", a.publish)
	m.Handle("GET /healthz", &health.Handler{Checks: []health.Check{
		health.Broker("bus", b), {Name: "webhooks", Run: (&health.Webhooks{Dispatcher: a.dispatcher}).Run},
	}})
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return a, nil
}

// publish publishes the form value "text" to the news topic.
func (a *app) publish(w http.ResponseWriter, r *http.Request) {
	text := r.FormValue("text")
	if text == "" || len(text) > 500 {
		http.Error(w, "text must be 1 to 500 bytes", http.StatusBadRequest)
		return
	}
	m, err := a.bus.Publish(r.Context(), newsTopic, bus.Message{Type: "news.posted", Data: []byte(text)})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintln(w, m.ID)
}

// tick publishes a message every interval until ctx ends.
func (a *app) tick(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			text := fmt.Sprintf("tick %d at %s", i, time.Now().Format(time.TimeOnly))
			_, _ = a.bus.Publish(ctx, newsTopic, bus.Message{Type: "news.tick", Data: []byte(text)})
		}
	}
}

// shutdown ends the long-lived streams the http.Server does not end itself.
func (a *app) shutdown(ctx context.Context) {
	_ = a.sse.Shutdown(ctx)
	_ = a.longpoll.Shutdown(ctx)
	_ = a.ws.Shutdown(ctx)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	every := flag.Duration("tick", 3*time.Second, "how often the ticker publishes (0: never)")
	pg := flag.String("pg", "", "PostgreSQL connection string: run the bus on PostgreSQL (bus/pgbus) instead of memory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var b bus.Broker = &bus.Memory{}
	if *pg != "" {
		pb, err := pgbus.New(*pg)
		if err != nil {
			log.Fatal(err)
		}
		if err := pb.Migrate(ctx); err != nil {
			log.Fatal(err)
		}
		b = pb
	}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	a, err := newApp("http://"+l.Addr().String(), b)
	if err != nil {
		log.Fatal(err)
	}
	defer a.bus.Close()
	srv := &http.Server{Handler: a.mux, ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.shutdown(sctx)
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.dispatcher.Run(ctx)
	}()
	if *every > 0 {
		go a.tick(ctx, *every)
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("pushpull showcase on http://%s/", l.Addr())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done
}
