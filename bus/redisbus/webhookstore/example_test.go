package webhookstore_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/redisbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
	"github.com/redis/go-redis/v9"
)

// Two instances of a receiving service share one Redis: the same delivery,
// arriving at both, runs the handler once.
func ExampleNewIdempotency() {
	opt, err := redis.ParseURL(redisURL) // "redis://127.0.0.1:6379", or REDIS_URL
	if err != nil {
		log.Fatal(err)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	ctx := context.Background()
	client.Del(ctx, "example:webhook:event:standard:msg_1") // start afresh

	secret, _ := webhook.GenerateSecret()
	keys := webhook.Secrets(secret)
	var instances []*webhook.Receiver
	for i := range 2 {
		store := webhookstore.NewIdempotency(client)
		store.Prefix = "example:webhook:"
		instances = append(instances, &webhook.Receiver{
			Keys:        keys,
			Idempotency: store,
			Handler: func(_ context.Context, e *webhook.Event) error {
				fmt.Printf("instance %d handled %s\n", i, e.ID)
				return nil
			},
		})
	}

	body := []byte(`{"type":"order.paid","timestamp":"2026-11-27T12:00:00Z","data":{"id":7}}`)
	now := time.Now()
	sig, _ := webhook.Sign(keys, "msg_1", now, body)
	for _, r := range instances {
		req := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(body))
		req.Header.Set(webhook.HeaderID, "msg_1")
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhook.HeaderSignature, sig)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// Output:
	// instance 0 handled msg_1
	// 200 ok
	// 200 duplicate
}

// A Dispatcher restarted on another instance resumes after the position
// the first one stored in Redis: what was delivered is not delivered again.
func ExampleNewCursors() {
	opt, err := redis.ParseURL(redisURL) // "redis://127.0.0.1:6379", or REDIS_URL
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	secret, _ := webhook.GenerateSecret()
	keys := webhook.Secrets(secret)
	received := make(chan string)
	srv := httptest.NewServer(&webhook.Receiver{Keys: keys, Handler: func(_ context.Context, e *webhook.Event) error {
		p, _ := webhook.ParsePayload(e.Body)
		received <- string(p.Data)
		return nil
	}})
	defer srv.Close()
	b := &bus.Memory{} // stands for a bus the instances share, such as redisbus
	defer b.Close()

	// run is one instance's Dispatcher, on its own Redis connection, until
	// it delivered message m and stored its position.
	run := func(m bus.Message) {
		client := redis.NewClient(opt)
		defer client.Close()
		cursors := webhookstore.NewCursors(client)
		cursors.Prefix = "example:webhook:"
		d := &webhook.Dispatcher{Broker: b, Cursors: cursors, Sender: &webhook.Sender{AllowPrivateNetworks: true}}
		_ = d.Add(webhook.Endpoint{ID: "shop", URL: srv.URL, Keys: keys, Topic: "orders", From: bus.Oldest})
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		fmt.Println("delivered", <-received)
		for st, _ := d.Status("shop"); st.Cursor != m.ID; st, _ = d.Status("shop") {
			time.Sleep(time.Millisecond) // until the position is stored
		}
		cancel()
		<-done
	}

	client := redis.NewClient(opt)
	defer client.Close()
	client.Del(ctx, "example:webhook:cursor:shop|orders") // start afresh
	m, _ := b.Publish(ctx, "orders", bus.Message{Data: []byte(`{"order":1}`)})
	run(m)
	m, _ = b.Publish(ctx, "orders", bus.Message{Data: []byte(`{"order":2}`)})
	run(m)
	// Output:
	// delivered {"order":1}
	// delivered {"order":2}
}
