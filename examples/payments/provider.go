package payments

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
)

//go:embed provider.html
var providerPage []byte

// endpointID names the consumer's endpoint in the Dispatcher.
const endpointID = "consumer"

// A Provider takes payments on its page and has its Dispatcher deliver
// their events to the consumer. Run Dispatcher.Run beside the server.
type Provider struct {
	Store      Store
	Dispatcher *webhook.Dispatcher
	// Mode names the store on the page: "memory" or "PostgreSQL".
	Mode string
	// ConsumerPage is the consumer's page, linked from the provider's.
	ConsumerPage string
}

// NewProvider returns a provider whose events come from b and go to the
// webhook URL consumerURL, signed with secret. cursors keeps the
// Dispatcher's position (nil: in memory). log may be nil.
func NewProvider(b bus.Broker, st Store, cursors webhook.CursorStore, consumerURL string, secret webhook.Secret, log *slog.Logger) (*Provider, error) {
	u, err := url.Parse(consumerURL)
	if err != nil {
		return nil, fmt.Errorf("payments: consumer URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("payments: consumer URL %q: want http(s)://host/path", consumerURL)
	}
	d := &webhook.Dispatcher{
		Broker:  b,
		Cursors: cursors,
		Sender: &webhook.Sender{
			// The demo delivers to a consumer on this machine, which
			// the SSRF guard refuses by default.
			AllowPrivateNetworks: true,
			Timeout:              5 * time.Second,
			Schedule:             []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute},
		},
		BreakerCooldown: 5 * time.Second,
		Logger:          log,
	}
	err = d.Add(webhook.Endpoint{
		ID:    endpointID,
		URL:   consumerURL,
		Keys:  webhook.Secrets(secret),
		Topic: Topic,
		Types: []string{"payment.*"},
		From:  bus.Oldest, // with no stored cursor, deliver the whole retained history
	})
	if err != nil {
		return nil, err
	}
	return &Provider{Store: st, Dispatcher: d, Mode: "memory", ConsumerPage: u.Scheme + "://" + u.Host + "/"}, nil
}

// Handler returns the provider's routes: the page, POST /payments and
// GET /state.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(providerPage)
	})
	mux.HandleFunc("POST /payments", p.create)
	mux.HandleFunc("GET /state", p.state)
	return mux
}

// create takes the form fields customer, amount, currency and outcome. It
// answers 201 with the payment, 400 for a bad form, 409 when the payment
// was rolled back (Crash) and 500 when the store failed.
func (p *Provider) create(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	pay, err := NewPayment(r.PostFormValue("customer"), r.PostFormValue("amount"), r.PostFormValue("currency"), Outcome(r.PostFormValue("outcome")))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	pay, err = p.Store.Create(r.Context(), pay, Outcome(r.PostFormValue("outcome")))
	switch {
	case errors.Is(err, ErrCrashed):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusCreated, pay)
	}
}

// state answers the page's poll: the latest payments and deliveries.
func (p *Provider) state(w http.ResponseWriter, r *http.Request) {
	list, err := p.Store.List(r.Context(), 50)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	logs, _ := p.Dispatcher.Deliveries(endpointID)
	type attempt struct {
		N      int    `json:"n"`
		Status int    `json:"status"`
		Error  string `json:"error,omitempty"`
	}
	type delivery struct {
		ID       string    `json:"id"`
		Type     string    `json:"type"`
		State    string    `json:"state"`
		Attempts []attempt `json:"attempts"`
	}
	ds := make([]delivery, 0, len(logs))
	for i := len(logs) - 1; i >= 0; i-- { // newest first
		l := logs[i]
		d := delivery{ID: l.ID, Type: l.Type, State: string(l.State)}
		for _, a := range l.Attempts {
			d.Attempts = append(d.Attempts, attempt{N: a.N, Status: a.Status, Error: a.Error})
		}
		ds = append(ds, d)
	}
	if list == nil {
		list = []Payment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"mode":         p.Mode,
		"consumerPage": p.ConsumerPage,
		"payments":     list,
		"deliveries":   ds,
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
