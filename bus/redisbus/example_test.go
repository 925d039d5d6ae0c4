package redisbus_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/redisbus"
)

// A broker from a plain redis:// URL. Every instance of the service that
// uses the same URL and Prefix shares the topics.
func ExampleNew() {
	b, err := redisbus.New("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	b.Prefix = "myapp:" // before the first call
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, "orders", "")
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	if _, err := b.Publish(ctx, "orders", bus.Message{Data: []byte("order 1")}); err != nil {
		log.Fatal(err)
	}
	m := <-sub.C()
	fmt.Println(m.ID, string(m.Data))
}
