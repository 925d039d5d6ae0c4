// Command webhook is a demo of package webhook: a provider publishes events
// on a bus, a Dispatcher signs and delivers them to a Receiver (in the same
// process, on /hook), and a page shows what the receiver handled and the
// dispatcher's attempt log. A switch makes the receiver fail, to watch the
// retries.
//
//	go run ./examples/webhook -addr 127.0.0.1:8080
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
)

//go:embed index.html
var indexHTML []byte

const topic = "orders"

// app is the provider and the consumer of the demo.
type app struct {
	bus        *bus.Memory
	dispatcher *webhook.Dispatcher
	receiver   *webhook.Receiver
	failing    atomic.Bool
	mu         sync.Mutex
	handled    []string
	n          atomic.Int64
}

// newApp wires a provider delivering to baseURL + "/hook".
func newApp(baseURL string) (*app, error) {
	secret, err := webhook.GenerateSecret()
	if err != nil {
		return nil, err
	}
	keys := webhook.Secrets(secret)
	a := &app{bus: &bus.Memory{}}
	a.receiver = &webhook.Receiver{Keys: keys, Handler: a.handle}
	a.dispatcher = &webhook.Dispatcher{
		Broker: a.bus,
		Sender: &webhook.Sender{
			AllowPrivateNetworks: true, // the demo delivers to itself
			Timeout:              2 * time.Second,
			Schedule:             []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second},
		},
		BreakerCooldown: 2 * time.Second,
	}
	err = a.dispatcher.Add(webhook.Endpoint{ID: "demo", URL: baseURL + "/hook", Keys: keys, Topic: topic, From: bus.Oldest})
	return a, err
}

func (a *app) handle(_ context.Context, e *webhook.Event) error {
	p, err := webhook.ParsePayload(e.Body)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.handled = append(a.handled, fmt.Sprintf("%s %s %s", e.ID, p.Type, p.Data))
	a.mu.Unlock()
	return nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		if a.failing.Load() {
			http.Error(w, "receiver switched to failing", http.StatusServiceUnavailable)
			return
		}
		a.receiver.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		n := a.n.Add(1)
		m, err := a.bus.Publish(r.Context(), topic, bus.Message{Type: "order.created", Data: []byte(`{"order":` + strconv.FormatInt(n, 10) + `}`)})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]string{"id": m.ID})
	})
	mux.HandleFunc("POST /failing", func(w http.ResponseWriter, r *http.Request) {
		on := r.URL.Query().Get("on") == "1"
		a.failing.Store(on)
		writeJSON(w, map[string]bool{"failing": on})
	})
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		logs, _ := a.dispatcher.Deliveries("demo")
		a.mu.Lock()
		handled := append([]string(nil), a.handled...)
		a.mu.Unlock()
		writeJSON(w, map[string]any{
			"failing":     a.failing.Load(),
			"handled":     handled,
			"deliveries":  logs,
			"deadLetters": len(a.dispatcher.DeadLetters()),
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	a, err := newApp("http://" + l.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		_ = a.dispatcher.Run(ctx)
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	log.Printf("webhook demo on http://%s", l.Addr())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-dispatched // the dispatcher ends with ctx; let its last attempt finish
	_ = a.bus.Close()
}
