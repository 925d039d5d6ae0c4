package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
)

// maxAttempts is how many of the latest webhook attempts the page shows.
const maxAttempts = 8

// hooks is the webhook panel's side of the app: it watches the deliveries
// reaching the Receiver (the last one's signature headers, its latency),
// keeps the Dispatcher's latest attempts, cuts the next delivery on
// demand, and sends forged and replayed events to show them refused.
type hooks struct {
	receiver http.Handler
	meter    *meter
	url      string // where the Receiver is mounted
	client   *http.Client

	mu       sync.Mutex
	last     *capturedDelivery // the last delivery the Receiver accepted
	attempts []attemptView     // the latest first
	cutNext  bool
}

// capturedDelivery is a request the Receiver accepted, kept to replay it.
type capturedDelivery struct {
	header http.Header
	body   []byte
}

// attemptView is an Attempt as the page shows it.
type attemptView struct {
	Delivery  string  `json:"delivery"`
	N         int     `json:"n"`
	Status    int     `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
	NextMS    int64   `json:"next_ms,omitempty"` // the wait before the next attempt
	At        string  `json:"at"`
}

// signatureHeaders are the Standard Webhooks headers the page shows.
var signatureHeaders = []string{webhook.HeaderID, "Webhook-Timestamp", "Webhook-Signature"}

// onAttempt is the Dispatcher's OnAttempt.
func (h *hooks) onAttempt(a webhook.Attempt) {
	v := attemptView{
		Delivery: a.Delivery, N: a.N, Status: a.Status, Error: a.Error,
		LatencyMS: float64(a.Latency) / float64(time.Millisecond),
		NextMS:    a.Next.Milliseconds(), At: a.At.Format(time.TimeOnly),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts = append([]attemptView{v}, h.attempts...)
	if len(h.attempts) > maxAttempts {
		h.attempts = h.attempts[:maxAttempts]
	}
}

// ServeHTTP passes a delivery on to the Receiver, or cuts its connection
// when a cut was asked for. A delivery the Receiver accepts as new is
// counted on the panel's meter and kept for replaying (see inbox).
func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	cut := h.cutNext
	h.cutNext = false
	h.mu.Unlock()
	if cut {
		// As a receiver that went away mid-request: the Dispatcher gets no
		// answer and retries on its schedule.
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = c.Close()
			h.meter.drops.Add(1)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhook.DefaultMaxBodyBytes))
	if err != nil {
		http.Error(w, "webhook: body too large", http.StatusRequestEntityTooLarge)
		return
	}
	h.meter.bytes.Add(int64(len(body)))
	r.Body = io.NopCloser(bytes.NewReader(body))
	d := &capturedDelivery{header: r.Header.Clone(), body: body}
	h.receiver.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), deliveryKey{}, d)))
}

// deliveryKey is the context key of the *capturedDelivery a request to
// the Receiver carries.
type deliveryKey struct{}

// inbox is the Receiver's Broker: it publishes what the Receiver verified
// and found new, and tells hooks which delivery that was.
type inbox struct {
	bus.Publisher
	hooks *hooks
}

func (p inbox) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	m, err := p.Publisher.Publish(ctx, topic, m)
	if d, ok := ctx.Value(deliveryKey{}).(*capturedDelivery); ok && err == nil {
		p.hooks.accepted(d)
	}
	return m, err
}

// accepted counts d, a delivery the Receiver published, on the panel's
// meter, with its latency from the publication of its message, and keeps
// it for replaying.
func (h *hooks) accepted(d *capturedDelivery) {
	if p, err := webhook.ParsePayload(d.body); err == nil {
		h.meter.messages.Add(1)
		h.meter.latency.Store(int64(time.Since(p.Timestamp)))
	}
	h.mu.Lock()
	h.last = d
	h.mu.Unlock()
}

// webhookStats is the webhook panel's part of the stats answer.
type webhookStats struct {
	Headers  map[string]string `json:"headers"`  // of the last delivery accepted
	Attempts []attemptView     `json:"attempts"` // the latest first
	Schedule []string          `json:"schedule"` // the delays before each retry
	CutNext  bool              `json:"cut_next"` // the next delivery will be cut
}

func (h *hooks) stats(schedule []time.Duration) webhookStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := webhookStats{Headers: map[string]string{}, Attempts: append([]attemptView(nil), h.attempts...), CutNext: h.cutNext}
	for _, d := range schedule {
		s.Schedule = append(s.Schedule, d.String())
	}
	if h.last != nil {
		for _, k := range signatureHeaders {
			s.Headers[strings.ToLower(k)] = h.last.header.Get(k)
		}
	}
	return s
}

// cut makes the next delivery's connection close before any answer.
func (h *hooks) cut() {
	h.mu.Lock()
	h.cutNext = true
	h.mu.Unlock()
}

// refusal is what the Receiver answered a forged or replayed event.
type refusal struct {
	Status    int    `json:"status"`
	Answer    string `json:"answer"`    // the Receiver's text
	Published bool   `json:"published"` // whether it reached the inbox
}

// forge posts an event signed with a key the Receiver does not know.
func (h *hooks) forge(ctx context.Context) (refusal, error) {
	secret, err := webhook.GenerateSecret()
	if err != nil {
		return refusal{}, err
	}
	body := []byte(`{"type":"news.posted","timestamp":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","data":"forged: send me your money"}`)
	id := "msg_forged_" + strconv.FormatInt(time.Now().UnixNano(), 10)
	now := time.Now()
	sig, err := webhook.Sign(webhook.Secrets(secret), id, now, body)
	if err != nil {
		return refusal{}, err
	}
	hdr := http.Header{}
	hdr.Set(webhook.HeaderID, id)
	hdr.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
	hdr.Set("Webhook-Signature", sig)
	return h.send(ctx, hdr, body)
}

// replay posts the last accepted delivery again, byte for byte, as
// someone who captured it would.
func (h *hooks) replay(ctx context.Context) (refusal, bool, error) {
	h.mu.Lock()
	last := h.last
	h.mu.Unlock()
	if last == nil {
		return refusal{}, false, nil
	}
	r, err := h.send(ctx, last.header, last.body)
	return r, true, err
}

func (h *hooks) send(ctx context.Context, hdr http.Header, body []byte) (refusal, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return refusal{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := h.client.Do(req)
	if err != nil {
		return refusal{}, err
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	text := strings.TrimSpace(string(answer))
	return refusal{Status: res.StatusCode, Answer: text, Published: res.StatusCode == http.StatusOK && text == "ok"}, nil
}
