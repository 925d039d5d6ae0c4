package payments_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/payments"
	"github.com/pushpull/pushpull/webhook"
)

// A consumer accepts a signed delivery once, however often it is sent.
func ExampleNewConsumer() {
	key, _ := webhook.ParseSecret(payments.DemoSecret)
	b := &bus.Memory{}
	defer b.Close()
	srv := httptest.NewServer(payments.NewConsumer(b, key, nil).Handler())
	defer srv.Close()

	body, _ := webhook.NewPayload(bus.Message{
		Type: payments.TypeSucceeded, Time: time.Now(),
		Data: []byte(`{"id":"pay_1","amount":1250,"currency":"EUR","customer":"Ada","status":"succeeded"}`),
	}).MarshalJSON()
	ep := &webhook.Endpoint{ID: "consumer", URL: srv.URL + "/webhooks", Keys: webhook.Secrets(key)}
	s := &webhook.Sender{AllowPrivateNetworks: true}
	defer s.CloseIdleConnections()
	for range 2 {
		a := s.Attempt(context.Background(), ep, webhook.Delivery{ID: "msg_1", Body: body})
		fmt.Println("answer", a.Status)
	}

	ms, _ := b.Read(context.Background(), payments.ReceivedTopic, bus.Oldest, 10)
	for _, m := range ms {
		fmt.Println(m.Type, m.Meta["webhook-id"])
	}
	// Output:
	// answer 200
	// answer 200
	// payment.succeeded msg_1
}
