package webhookstore_test

import (
	"bytes"
	"context"
	"errors"
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

// sharedBus stands for the bus the instances share.
var sharedBus bus.Broker

// A Store holds the endpoints of every instance: an update carries the
// version it read, so of two concurrent edits one wins and the other
// learns of it; and a lease gives an endpoint to one instance at a time.
func ExampleNewStore() {
	opt, err := redis.ParseURL(redisURL) // "redis://127.0.0.1:6379", or REDIS_URL
	if err != nil {
		log.Fatal(err)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	ctx := context.Background()
	store := webhookstore.NewStore(client)
	store.Prefix = "example:webhook:store:"
	deleteKeys(client, store.Prefix) // start afresh

	secret, _ := webhook.GenerateSecret()
	ep, err := store.PutEndpoint(ctx, webhook.EndpointConfig{
		ID: "shop", URL: "https://shop.example/hooks", Topic: "orders",
		Secrets: []webhook.SecretConfig{{Secret: secret.Encode()}},
	})
	fmt.Println("created version", ep.Version, err)

	edit := ep
	edit.Types = []string{"order.*"}
	edit, err = store.PutEndpoint(ctx, edit)
	fmt.Println("updated to version", edit.Version, err)
	ep.Disabled = true // an edit of the version read before
	_, err = store.PutEndpoint(ctx, ep)
	fmt.Println("stale edit:", errors.Is(err, webhook.ErrConflict))

	a, _ := store.AcquireLease(ctx, "shop", "instance-a", time.Minute)
	b, _ := store.AcquireLease(ctx, "shop", "instance-b", time.Minute)
	fmt.Println("lease to a:", a, "to b:", b)

	// A Dispatcher on each instance, with Store set, delivers the
	// endpoints of the registry between them.
	_ = &webhook.Dispatcher{Broker: sharedBus, Store: store}
	// Output:
	// created version 1 <nil>
	// updated to version 2 <nil>
	// stale edit: true
	// lease to a: true to b: false
}
