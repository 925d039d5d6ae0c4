// Command showcase is pushpull's main demo and teaching page: one
// in-memory bus served five ways at once. A ticker and a form publish to
// the topic "news"; the page shows it arriving by short polling, long
// polling, Server-Sent Events, a WebSocket, the fallback client
// (auto/client.js), and through a webhook: a Dispatcher signs and posts
// each message to a Receiver mounted in the same app, which publishes what
// it verified to the topic "inbox", shown on the page over SSE.
//
// Run it from the repository root and open the address it prints:
//
//	go run ./examples/showcase                 # http://127.0.0.1:8080/
//	go run ./examples/showcase -addr :9000 -tick 1s
//	go run ./examples/showcase -pg postgres://postgres@127.0.0.1:5432/test
//
// Flags:
//
//	-addr  listen address (default 127.0.0.1:8080)
//	-tick  how often the ticker publishes to news (default 3s; 0: never)
//	-pg    a PostgreSQL connection string: the bus is PostgreSQL
//	       (bus/pgbus) instead of memory, so several instances share it and
//	       it survives restarts
//
// Each panel says in a line how its pattern works and shows what the
// server counted for it (GET /showcase/stats, JSON): requests, bytes sent
// on the wire, messages handed to the transport, the last one's latency
// from its publication, and the requests in flight. Its "Drop connection"
// button has the server close the panel's connections, those of requests
// in flight and the idle keep-alive ones it used last (POST
// /showcase/drop/{panel}; the webhook panel's next delivery is cut too):
// the panel resumes from its cursor and shows "resumed from <cursor>, 0
// missing", as it checks that every id follows the last one. Numbers and
// drops concern every open page.
//
// The webhook panel shows the last delivery's signature headers, the
// Dispatcher's latest attempts and its retry schedule, and sends the
// Receiver a forged event (signed with another key: 401) and a replay of
// the last delivery (answered 200 "duplicate" and not published again).
// The fallback panel's switches turn transports off at the server (POST
// /showcase/block/{transport}?off=true: their routes answer 404 and their
// connections are cut): the client falls back, and returns when they are
// on again. The chat below it runs on a second auto.Handler whose Auth is a
// presence.Memory, so the page lists who is online.
//
// The measured comparison of the five patterns at the bottom of the page
// is matrix.json, written by examples/compare; refresh it with
//
//	go run ./examples/compare -json examples/showcase/matrix.json
//
// GET /healthz is the readiness probe (package health): the bus and the
// webhook Dispatcher, as JSON, 200 when ready and 503 when not.
//
// /metrics serves the metrics of every handler, the webhook Dispatcher and
// Receiver, and the in-memory bus, in the Prometheus text format
// (metrics/prometheus); topics are counted under the classes "news",
// "inbox", "chat" and "other".
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
	"github.com/pushpull/pushpull/auth/presence"
	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/pgbus"
	"github.com/pushpull/pushpull/examples/internal/names"
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

// matrix is the comparison of the five patterns, measured on loopback by
// examples/compare. Refresh it from the repository root with
//
//	go run ./examples/compare -json examples/showcase/matrix.json
//
//go:embed matrix.json
var matrix []byte

// Topics of the demo.
const (
	newsTopic  = "news"
	inboxTopic = "inbox"
	chatTopic  = "chat"
)

// retrySchedule is the webhook Sender's delays before each retry.
var retrySchedule = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second}

// app holds the demo's bus, its handlers and the meters of the page's
// panels.
type app struct {
	bus        bus.Broker
	dispatcher *webhook.Dispatcher
	mux        *http.ServeMux
	metrics    *prometheus.Recorder // every handler's, served on /metrics
	meters     map[string]*meter    // by panel
	hooks      *hooks
	presence   *presence.Memory
	blocked    blockSet                      // transports of the fallback panel switched off
	shutdowns  []func(context.Context) error // of the handlers holding streams
}

// newApp wires every pattern to the bus b; baseURL is where the app itself
// is reachable, for the webhook dispatcher to post to.
func newApp(baseURL string, b bus.Broker) (*app, error) {
	secret, err := webhook.GenerateSecret()
	if err != nil {
		return nil, err
	}
	keys := webhook.Secrets(secret)
	rec := &prometheus.Recorder{TopicClass: metrics.Prefixes(newsTopic, inboxTopic, chatTopic)}
	reg := prom.NewRegistry()
	if err := reg.Register(rec); err != nil {
		return nil, err
	}
	if m, ok := b.(*bus.Memory); ok && m.Metrics == nil {
		m.Metrics = rec // not used yet: its fields may still be set
	}
	a := &app{bus: b, mux: http.NewServeMux(), metrics: rec, meters: map[string]*meter{}}
	for _, p := range panels {
		a.meters[p] = &meter{}
	}
	// counted is the bus as panel p's handler sees it.
	counted := func(p string) bus.Broker { return countedBroker{Broker: b, meter: a.meters[p]} }
	a.hooks = &hooks{
		meter:  a.meters[panelWebhook],
		url:    baseURL + "/hooks/news",
		client: &http.Client{Timeout: 5 * time.Second},
	}
	a.hooks.receiver = &webhook.Receiver{Keys: keys, Broker: inbox{Publisher: b, hooks: a.hooks}, Metrics: rec, Topic: fixed(inboxTopic)}
	a.dispatcher = &webhook.Dispatcher{
		Broker: b,
		Sender: &webhook.Sender{
			AllowPrivateNetworks: true, // the demo delivers to itself on loopback
			Timeout:              2 * time.Second,
			Schedule:             retrySchedule,
		},
		Metrics:   rec,
		OnAttempt: a.hooks.onAttempt,
	}
	err = a.dispatcher.Add(webhook.Endpoint{
		ID: "showcase", URL: a.hooks.url, Keys: keys, Topic: newsTopic, From: bus.Oldest,
	})
	if err != nil {
		return nil, err
	}

	sseNews := &sse.Handler{Broker: counted(panelSSE), Topic: fixed(newsTopic), Heartbeat: 10 * time.Second, Metrics: rec}
	sseInbox := &sse.Handler{Broker: counted(panelInbox), Topic: fixed(inboxTopic), Heartbeat: 10 * time.Second, Metrics: rec}
	sseOther := &sse.Handler{Broker: b, Heartbeat: 10 * time.Second, Metrics: rec}
	lp := &longpoll.Handler{Broker: counted(panelLongpoll), Timeout: 20 * time.Second, Metrics: rec}
	wsh := &ws.Handler{Broker: counted(panelWS), Metrics: rec}
	// The fallback panel: every transport under /rt, each of which the
	// page can switch off.
	fallback := &auto.Handler{Broker: counted(panelAuto), Prefix: "/rt", PollInterval: time.Second}
	// The chat: who is online is kept by the Authorizer, which the ws and
	// sse transports tell of every live subscription.
	// The token is the reader's name (a demo: see examples/internal/names).
	a.presence = &presence.Memory{Auth: names.Auth([]string{chatTopic, "presence/" + chatTopic}, []string{chatTopic}), Broker: b}
	chat := &auto.Handler{Broker: b, Prefix: "/chat", Auth: a.presence, MaxMessageBytes: 2 << 10, OnPublish: names.SignPost}
	a.shutdowns = append(a.shutdowns, sseNews.Shutdown, sseInbox.Shutdown, sseOther.Shutdown, lp.Shutdown, wsh.Shutdown,
		fallback.Shutdown, chat.Shutdown)

	m := a.mux
	metered := func(p string, h http.Handler) http.Handler { return a.meters[p].handler(h) }
	m.Handle("GET /poll/{topic}", metered(panelPoll, &poll.Handler{Broker: counted(panelPoll), Interval: 2 * time.Second, Metrics: rec}))
	m.Handle("GET /longpoll/{topic}", metered(panelLongpoll, lp))
	m.Handle("GET /sse/news", metered(panelSSE, sseNews))
	m.Handle("GET /sse/inbox", metered(panelInbox, sseInbox))
	m.Handle("GET /sse/{topic}", sseOther)
	m.Handle("GET /ws", metered(panelWS, wsh))
	m.Handle("/rt/", metered(panelAuto, a.blocked.handler(fallback)))
	m.Handle("GET /rt/client.js", fallback) // an asset, not the panel's traffic
	m.Handle("/chat/", chat)
	m.Handle("GET /chat/presence", a.presence)
	m.Handle("GET /pushpull-ws.js", ws.ClientJS())
	m.Handle("POST /hooks/news", metered(panelWebhook, a.hooks))
	m.HandleFunc("POST /publish", a.publish)
	m.HandleFunc("GET /showcase/stats", a.stats)
	m.HandleFunc("POST /showcase/drop/{panel}", a.drop)
	m.HandleFunc("POST /showcase/block/{transport}", a.block)
	m.HandleFunc("POST /showcase/webhook/{what}", a.webhookTry)
	m.HandleFunc("GET /showcase/matrix.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(matrix)
	})
	m.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m.Handle("GET /healthz", &health.Handler{Checks: []health.Check{
		health.Broker("bus", b), {Name: "webhooks", Run: (&health.Webhooks{Dispatcher: a.dispatcher}).Run},
	}})
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return a, nil
}

// fixed returns a handler's Topic function for the one topic t.
func fixed(t string) func(*http.Request) (string, error) {
	return func(*http.Request) (string, error) { return t, nil }
}

// server returns the http.Server of the app; serve it on listen(l).
func (a *app) server() *http.Server {
	return &http.Server{Handler: unmetered(a.mux), ReadHeaderTimeout: 5 * time.Second, ConnContext: connContext}
}

// listen wraps l so the panels' meters count the bytes on its connections
// and can cut them.
func listen(l net.Listener) net.Listener { return meterListener{l} }

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
	for _, f := range a.shutdowns {
		_ = f(ctx)
	}
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
	srv := a.server()
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
	if err := srv.Serve(listen(l)); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done
}
