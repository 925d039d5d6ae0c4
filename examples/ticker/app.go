package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/sse"
)

//go:embed index.html
var page []byte

// topic is the topic of the ticks.
const topic = "ticker"

// Quote is one symbol's price in a tick.
type Quote struct {
	Symbol string  `json:"sym"`
	Price  float64 `json:"price"`
	Change float64 `json:"change"` // since the previous tick
}

// Tick is the data of one message: every symbol's price, numbered from 1.
type Tick struct {
	Seq    int       `json:"seq"`
	Time   time.Time `json:"time"`
	Quotes []Quote   `json:"quotes"`
}

// market simulates prices as random walks. It is used by one goroutine at
// a time.
type market struct {
	rnd    *rand.Rand
	seq    int
	quotes []Quote
}

func newMarket(seed int64) *market {
	return &market{rnd: rand.New(rand.NewPCG(uint64(seed), 94)), quotes: []Quote{
		{Symbol: "ACME", Price: 182.40}, {Symbol: "GLBX", Price: 47.15}, {Symbol: "INIT", Price: 12.03},
		{Symbol: "NOVA", Price: 318.77}, {Symbol: "UMBR", Price: 95.60}, {Symbol: "WAYN", Price: 64.28},
	}}
}

// next moves every price and returns the next tick.
func (m *market) next(now time.Time) Tick {
	m.seq++
	for i := range m.quotes {
		q := &m.quotes[i]
		p := math.Round(max(0.01, q.Price*(1+0.004*m.rnd.NormFloat64()))*100) / 100
		q.Change, q.Price = math.Round((p-q.Price)*100)/100, p
	}
	return Tick{Seq: m.seq, Time: now.UTC(), Quotes: append([]Quote(nil), m.quotes...)}
}

// publish publishes the next tick on b.
func (m *market) publish(ctx context.Context, b bus.Publisher) error {
	data, err := json.Marshal(m.next(time.Now()))
	if err != nil {
		return err
	}
	_, err = b.Publish(ctx, topic, bus.Message{Type: "tick", Data: data})
	return err
}

// app serves the page, the stream at /events, and POST /drop, which cuts
// every open stream so that clients reconnect and resume.
type app struct {
	http.Handler
	sse *sse.Handler

	mu   sync.Mutex
	drop chan struct{} // closed by the next POST /drop

	resumed atomic.Int64 // stream requests that came with a Last-Event-ID
}

// newApp returns the app; retry is the reconnection delay advised to
// EventSource.
func newApp(b bus.Broker, retry time.Duration) *app {
	a := &app{drop: make(chan struct{})}
	a.sse = &sse.Handler{Broker: b, Retry: retry, Topic: func(*http.Request) (string, error) { return topic, nil }}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", a.stream)
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		close(a.drop)
		a.drop = make(chan struct{})
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	a.Handler = mux
	return a
}

// stream serves a stream that the next POST /drop ends.
func (a *app) stream(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Last-Event-ID") != "" {
		a.resumed.Add(1)
	}
	a.mu.Lock()
	drop := a.drop
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-drop:
			cancel()
		case <-ctx.Done():
		}
	}()
	a.sse.ServeHTTP(w, r.WithContext(ctx))
}
