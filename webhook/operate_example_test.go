package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
)

// A Dispatcher follows the endpoints of a store and logs every attempt
// there.
func ExampleDispatcher_PutEndpoint() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, _ := webhook.ParseSecret(secret)
	done := make(chan struct{})
	srv := httptest.NewServer(&webhook.Receiver{
		Keys: webhook.Secrets(key),
		Handler: func(_ context.Context, e *webhook.Event) error {
			p, _ := webhook.ParsePayload(e.Body)
			fmt.Printf("received %s %s\n", p.Type, p.Data)
			return nil
		},
	})
	defer srv.Close()

	b := &bus.Memory{}
	defer b.Close()
	store := webhook.NewMemoryStore()
	d := &webhook.Dispatcher{
		Broker: b, Store: store, Sender: &webhook.Sender{AllowPrivateNetworks: true},
		OnAttempt: func(a webhook.Attempt) {
			if a.OK() {
				close(done)
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = d.Run(ctx); close(stopped) }()

	c, err := d.PutEndpoint(ctx, webhook.EndpointConfig{
		ID: "shop", URL: srv.URL, Topic: "orders", Types: []string{"order.*"}, From: bus.Oldest,
		Secrets: []webhook.SecretConfig{{Secret: secret}},
	})
	fmt.Println("version", c.Version, err)
	_, _ = b.Publish(ctx, "orders", bus.Message{Type: "order.paid", Data: []byte(`{"id":7}`)})
	<-done
	cancel()
	<-stopped

	attempts, _ := store.ListAttempts(context.Background(), webhook.AttemptQuery{Endpoint: "shop"})
	for _, a := range attempts {
		fmt.Println(a.N, a.Type, a.Status, a.OK())
	}
	// Output:
	// version 1 <nil>
	// received order.paid {"id":7}
	// 1 order.paid 200 true
}

// An Attempt's JSON form is readable and stable.
func ExampleAttempt_MarshalJSON() {
	a := webhook.Attempt{
		Delivery: "msg_1", Endpoint: "shop", Message: "1-0", Type: "order.paid", N: 1,
		At:     time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC),
		Status: 503, Latency: 1500 * time.Microsecond, Error: "webhook: server answered 503 Service Unavailable",
		Response: []byte("down for maintenance"), Next: 5 * time.Second,
	}
	out, _ := json.MarshalIndent(a, "", "  ")
	fmt.Println(string(out))
	// Output:
	// {
	//   "delivery": "msg_1",
	//   "endpoint": "shop",
	//   "message": "1-0",
	//   "type": "order.paid",
	//   "n": 1,
	//   "at": "2026-12-03T07:00:00Z",
	//   "ok": false,
	//   "status": 503,
	//   "latency": "1.5ms",
	//   "latency_ms": 1.5,
	//   "error": "webhook: server answered 503 Service Unavailable",
	//   "response": "down for maintenance",
	//   "next": "5s",
	//   "next_ms": 5000
	// }
}

// A SecretCipher seals the endpoints' secrets for a store (the Redis and
// PostgreSQL stores take one in their Secrets field): what is at rest
// holds no secret, and reading opens it again.
func ExampleSecretCipher() {
	key := bytes.Repeat([]byte{7}, webhook.SecretCipherKeySize) // from a secret manager, not like this
	c, err := webhook.NewSecretCipher(key)
	if err != nil {
		panic(err)
	}
	cfg := webhook.EndpointConfig{ID: "shop", URL: "https://shop.example/hooks", Topic: "orders",
		Secrets: []webhook.SecretConfig{{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}
	sealed, _ := c.Seal(cfg)
	fmt.Println(strings.HasPrefix(sealed.Secrets[0].Secret, webhook.SealedPrefix))
	opened, _ := c.Open(sealed)
	fmt.Println(opened.Secrets[0].Secret)
	// Output:
	// true
	// whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
}
