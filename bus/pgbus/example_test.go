package pgbus_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/pgbus"
)

// A broker on a database the service already has. Every instance that uses
// the same database and Prefix shares the topics.
func ExampleNew() {
	ctx := context.Background()
	b, err := pgbus.New("postgres://postgres@127.0.0.1:5432/test")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	b.Prefix = "myapp_" // before the first call
	if err := b.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
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

// The order and its event commit together, or neither does.
func ExampleBroker_PublishTx() {
	ctx := context.Background()
	b, err := pgbus.New("postgres://postgres@127.0.0.1:5432/test")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	err = pgx.BeginFunc(ctx, b.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO orders (id) VALUES (42)"); err != nil {
			return err // rolled back: no event either
		}
		_, err := b.PublishTx(ctx, tx, "orders", bus.Message{Type: "order.created", Data: []byte(`{"id":42}`)})
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}

// The schema for teams that run their own migrations.
func ExampleSchema() {
	sql, err := pgbus.Schema("shop_")
	if err != nil {
		log.Fatal(err)
	}
	_ = sql // apply with your migration tool
	_, err = pgbus.Schema("Shop-")
	fmt.Println(err)
	// Output:
	// pgbus: prefix "Shop-": byte 0 is not a lower-case letter, digit or underscore (or starts with a digit)
}
