package natsbus_test

import (
	"context"
	"fmt"
	"log"

	"github.com/nats-io/nats.go"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/natsbus"
)

// Two brokers on two connections, as two instances of a service would have:
// what one publishes, the other delivers, and resumes after any ID.
func Example() {
	ctx := context.Background()
	connect := func() *nats.Conn {
		nc, err := nats.Connect(natsURL) // for example nats://127.0.0.1:4222
		if err != nil {
			log.Fatal(err)
		}
		return nc
	}
	ncA, ncB := connect(), connect()
	defer ncA.Close()
	defer ncB.Close()
	a := &natsbus.Broker{Conn: ncA, Stream: "EXAMPLE", Prefix: "example"}
	b := &natsbus.Broker{Conn: ncB, Stream: "EXAMPLE", Prefix: "example"}
	defer a.Close()
	defer b.Close()

	sub, err := b.Subscribe(ctx, "orders.eu", "")
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	first, err := a.Publish(ctx, "orders.eu", bus.Message{Type: "order.placed", Data: []byte("order 1")})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := a.Publish(ctx, "orders.eu", bus.Message{Type: "order.placed", Data: []byte("order 2")}); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		m := <-sub.C()
		fmt.Println("live on b:", m.Type, string(m.Data))
	}
	// A client that saw the first message resumes after its ID, on either.
	rest, err := a.Read(ctx, "orders.eu", first.ID, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after the first:", string(rest[0].Data))
	// Output:
	// live on b: order.placed order 1
	// live on b: order.placed order 2
	// after the first: order 2
}
