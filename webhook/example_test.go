package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
)

// The provider signs and posts one delivery, retrying on its schedule.
func ExampleSender_Send() {
	secret, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	receiver := &webhook.Receiver{
		Keys: webhook.Secrets(secret),
		Handler: func(_ context.Context, e *webhook.Event) error {
			fmt.Printf("received %s: %s\n", e.ID, e.Body)
			return nil
		},
	}
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	sender := &webhook.Sender{AllowPrivateNetworks: true} // httptest listens on loopback
	defer sender.CloseIdleConnections()
	ep := &webhook.Endpoint{ID: "billing", URL: srv.URL, Keys: webhook.Secrets(secret)}
	attempts, err := sender.Send(context.Background(), ep, webhook.Delivery{ID: "msg_1", Body: []byte(`{"paid":true}`)})
	fmt.Println(len(attempts), attempts[0].Status, err)
	// Output:
	// received msg_1: {"paid":true}
	// 1 200 <nil>
}

// The consumer verifies the Standard Webhooks reference request.
func ExampleReceiver() {
	secret, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	r := &webhook.Receiver{
		Keys:  webhook.Secrets(secret),
		Clock: func() time.Time { return time.Unix(1614265330, 0) }, // the vector's time
		Handler: func(_ context.Context, e *webhook.Event) error {
			fmt.Printf("handled %s %s\n", e.ID, e.Body)
			return nil
		},
	}
	send := func(sig string) int {
		req := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader([]byte(`{"test": 2432232314}`)))
		req.Header.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
		req.Header.Set("webhook-timestamp", strconv.Itoa(1614265330))
		req.Header.Set("webhook-signature", sig)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code
	}
	fmt.Println(send("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="))
	fmt.Println(send("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")) // a duplicate
	fmt.Println(send("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=")) // forged
	// Output:
	// handled msg_p5jXN8AQM9LWM0D4loKWxJek {"test": 2432232314}
	// 200
	// 200
	// 401
}

// The dispatcher delivers a topic to an endpoint; the receiving side
// publishes what it verified to a topic of its own bus.
func ExampleDispatcher() {
	secret, _ := webhook.GenerateSecret()
	keys := webhook.Secrets(secret)

	consumerBus := &bus.Memory{}
	defer consumerBus.Close()
	sub, _ := consumerBus.Subscribe(context.Background(), "incoming", "")
	defer sub.Close()
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/{topic}", &webhook.Receiver{Keys: keys, Broker: consumerBus}) // publishes to {topic}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	providerBus := &bus.Memory{}
	defer providerBus.Close()
	d := &webhook.Dispatcher{Broker: providerBus, Sender: &webhook.Sender{AllowPrivateNetworks: true}}
	_ = d.Add(webhook.Endpoint{
		ID: "shop", URL: srv.URL + "/hooks/incoming", Keys: keys,
		Topic: "orders", Types: []string{"order.*"},
		From: bus.Oldest, // the first time, deliver the retained history too
	})
	ctx := context.Background()
	_, _ = providerBus.Publish(ctx, "orders", bus.Message{Type: "order.created", Data: []byte(`{"id":7}`)})
	_, _ = providerBus.Publish(ctx, "orders", bus.Message{Type: "stock.low", Data: []byte(`{"sku":"x"}`)})
	_, _ = providerBus.Publish(ctx, "orders", bus.Message{Type: "order.paid", Data: []byte(`{"id":7}`)})

	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	for range 2 {
		m := <-sub.C()
		fmt.Println(m.Type, string(m.Data), m.Meta["webhook-id"] != "")
	}
	cancel()
	fmt.Println(<-done)
	// Output:
	// order.created {"id":7} true
	// order.paid {"id":7} true
	// <nil>
}
