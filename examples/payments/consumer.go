package payments

import (
	"context"
	_ "embed"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/webhook"
)

//go:embed consumer.html
var consumerPage []byte

// ReceivedTopic is the consumer's own topic: every payment event it
// accepted, and a "refused" message for every delivery it refused.
const ReceivedTopic = "received"

// TypeRefused is the type of the consumer's message about a refused
// delivery; its data is {"status":401,"reason":"…"}.
const TypeRefused = "refused"

// A Consumer receives the provider's webhooks on POST /webhooks and shows
// them on its page, live over SSE from its own bus. Call Shutdown when the
// server shuts down, to end the page's streams.
type Consumer struct {
	// Bus holds what the Receiver accepted, on ReceivedTopic.
	Bus      bus.Broker
	Receiver *webhook.Receiver
	Events   *sse.Handler
	log      *slog.Logger
}

// NewConsumer returns a consumer that accepts deliveries signed with
// secret and keeps them on b. log may be nil.
func NewConsumer(b bus.Broker, secret webhook.Secret, log *slog.Logger) *Consumer {
	fixed := func(*http.Request) (string, error) { return ReceivedTopic, nil }
	return &Consumer{
		Bus: b,
		Receiver: &webhook.Receiver{
			Keys:   webhook.Secrets(secret),
			Broker: b,
			Topic:  fixed,
			Logger: log,
		},
		Events: &sse.Handler{Broker: b, Topic: fixed, Logger: log},
		log:    log,
	}
}

// Handler returns the consumer's routes: the page, POST /webhooks and
// GET /events (the page's event stream).
func (c *Consumer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(consumerPage)
	})
	mux.HandleFunc("POST /webhooks", c.receive)
	mux.Handle("GET /events", c.Events)
	return mux
}

// Shutdown ends the page's event streams.
func (c *Consumer) Shutdown(ctx context.Context) error { return c.Events.Shutdown(ctx) }

// receive runs the Receiver and tells the page about what it refused.
func (c *Consumer) receive(w http.ResponseWriter, r *http.Request) {
	rw := &recorder{ResponseWriter: w}
	c.Receiver.ServeHTTP(rw, r)
	if rw.status < 400 {
		return
	}
	data, _ := json.Marshal(map[string]any{"status": rw.status, "reason": strings.TrimSpace(rw.body.String())})
	if _, err := c.Bus.Publish(r.Context(), ReceivedTopic, bus.Message{Type: TypeRefused, Data: data}); err != nil && c.log != nil {
		c.log.Warn("payments: publish refusal", "err", err)
	}
}

// recorder keeps the status and the start of the body of a response.
type recorder struct {
	http.ResponseWriter
	status int
	body   strings.Builder
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if n := 200 - r.body.Len(); n > 0 {
		r.body.Write(p[:min(n, len(p))])
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets the Receiver set read deadlines through the recorder.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
