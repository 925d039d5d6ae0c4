// Command webhookops runs webhooks as a provider operates them: endpoints
// in a store, managed through the admin API (package webhook/admin), a
// Dispatcher that follows the store, and the consumer portal where the
// receiving side sees its deliveries and retries the failed ones.
//
//	go run ./examples/webhookops            # http://127.0.0.1:8096
//
// The demo is its own consumer: a Receiver on /hook handles the orders the
// provider publishes every few seconds, and refuses every fifth order for
// a few seconds, long enough for its retries to run out, so it becomes a
// dead letter. Open the portal link the home page shows, wait for a red
// "dead" row and press Retry. The operator's token (printed at start)
// opens the admin API:
//
//	curl -H "Authorization: Bearer $OPS" http://127.0.0.1:8096/admin/endpoints
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/admin"
)

const (
	topic    = "orders"
	endpoint = "shop"
)

// app is the provider (bus, store, Dispatcher, admin API, portal) and the
// consumer (the Receiver on /hook) of the demo.
type app struct {
	bus        *bus.Memory
	store      *webhook.MemoryStore
	dispatcher *webhook.Dispatcher
	admin      *admin.Handler
	receiver   *webhook.Receiver
	opsToken   string
	shopToken  string

	// The consumer's behaviour: down refuses everything; failEvery
	// refuses every n-th order for flakyFor after its first attempt.
	down      atomic.Bool
	failEvery int64
	flakyFor  time.Duration
	n         atomic.Int64
	mu        sync.Mutex
	firstSeen map[string]time.Time
}

// newApp wires the demo; deliveries go to baseURL + "/hook".
func newApp(ctx context.Context, baseURL string) (*app, error) {
	a := &app{
		bus:       &bus.Memory{},
		store:     webhook.NewMemoryStore(),
		opsToken:  token(),
		shopToken: token(),
		failEvery: 5,
		flakyFor:  3 * time.Second,
		firstSeen: make(map[string]time.Time),
	}
	a.dispatcher = &webhook.Dispatcher{
		Broker: a.bus,
		Store:  a.store,
		Sender: &webhook.Sender{
			AllowPrivateNetworks: true, // the demo delivers to itself
			Timeout:              2 * time.Second,
			Schedule:             []time.Duration{200 * time.Millisecond, 500 * time.Millisecond},
		},
		BreakerThreshold: 50,
		Retention:        24 * time.Hour,
	}
	ids := map[string]*auth.Identity{
		a.opsToken:  {Subject: "operator", Subscribe: []string{"webhooks/*"}, Publish: []string{"webhooks/*"}},
		a.shopToken: {Subject: "shop", Subscribe: []string{"webhooks/" + endpoint}, Publish: []string{"webhooks/" + endpoint}},
	}
	a.admin = &admin.Handler{
		Dispatcher: a.dispatcher,
		Store:      a.store,
		Auth: &auth.Bearer{Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
			if id, ok := ids[tok]; ok {
				return id, nil
			}
			return nil, fmt.Errorf("%w: unknown token", auth.ErrUnauthenticated)
		}},
	}
	secret, err := webhook.GenerateSecret()
	if err != nil {
		return nil, err
	}
	_, err = a.dispatcher.PutEndpoint(ctx, webhook.EndpointConfig{
		ID: endpoint, URL: baseURL + "/hook", Topic: topic, From: bus.Oldest,
		Secrets:     []webhook.SecretConfig{{Secret: secret.Encode()}},
		Description: "the shop's order hook",
	})
	if err != nil {
		return nil, err
	}
	a.receiver = &webhook.Receiver{Keys: webhook.Secrets(secret), Handler: a.handle}
	return a, nil
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// handle is the consumer's handler: it refuses while down, and refuses a
// flaky order (every failEvery-th) until flakyFor after its first attempt.
func (a *app) handle(_ context.Context, e *webhook.Event) error {
	if a.down.Load() {
		return errors.New("consumer is down")
	}
	p, err := webhook.ParsePayload(e.Body)
	if err != nil {
		return err
	}
	var order struct {
		N int64 `json:"order"`
	}
	data, err := p.Bytes()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &order); err != nil {
		return err
	}
	if a.failEvery > 0 && order.N%a.failEvery == 0 {
		a.mu.Lock()
		first, ok := a.firstSeen[e.ID]
		if !ok {
			first = time.Now()
			a.firstSeen[e.ID] = first
		}
		a.mu.Unlock()
		if time.Since(first) < a.flakyFor {
			return fmt.Errorf("order %d: stock service unavailable", order.N)
		}
	}
	return nil
}

// publish publishes the next order.
func (a *app) publish(ctx context.Context) (bus.Message, error) {
	n := a.n.Add(1)
	typ := "order.created"
	if n%3 == 0 {
		typ = "order.paid"
	}
	return a.bus.Publish(ctx, topic, bus.Message{Type: typ, Data: []byte(`{"order":` + strconv.FormatInt(n, 10) + `}`)})
}

var home = template.Must(template.New("home").Parse(`<!doctype html>
<meta charset="utf-8"><title>Webhook operations</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em}code{background:#f1f3f4;padding:1px 4px}</style>
<h1>Webhook operations</h1>
<p>The provider publishes an order every few seconds and delivers it to the endpoint <code>{{.Endpoint}}</code>
(this demo's own Receiver on <code>/hook</code>), which refuses every fifth order for a while.</p>
<p><a id="portal" href="portal/#endpoint={{.Endpoint}}&amp;token={{.Shop}}">Open the shop's delivery portal</a>
(the link carries the shop's token, scoped to its endpoint).</p>
<p>The admin API, with the operator's token:</p>
<pre>curl -H "Authorization: Bearer {{.Ops}}" {{.Base}}/admin/endpoints
curl -H "Authorization: Bearer {{.Ops}}" {{.Base}}/admin/endpoints/{{.Endpoint}}/deadletters</pre>
`))

func (a *app) routes(base string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = home.Execute(w, map[string]string{"Endpoint": endpoint, "Shop": a.shopToken, "Ops": a.opsToken, "Base": base})
	})
	mux.Handle("/admin/", http.StripPrefix("/admin", a.admin))
	mux.Handle("/portal/", http.StripPrefix("/portal", admin.Portal(a.admin)))
	mux.Handle("POST /hook", a.receiver)
	return mux
}

// publishEvery publishes an order every interval until ctx is done.
func (a *app) publishEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := a.publish(ctx); err != nil && ctx.Err() == nil {
			log.Print(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8096", "listen address")
	every := flag.Duration("every", 4*time.Second, "how often an order is published")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	a, err := newApp(ctx, base)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: a.routes(base), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.dispatcher.Run(ctx) })
	wg.Go(func() { a.publishEvery(ctx, *every) })
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	log.Printf("webhook operations demo on %s", base)
	log.Printf("portal: %s/portal/#endpoint=%s&token=%s", base, endpoint, a.shopToken)
	log.Printf("operator token: %s", a.opsToken)
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	wg.Wait()
	_ = a.admin.Close() // cancels the recoveries and replays still running
	_ = a.bus.Close()
}
