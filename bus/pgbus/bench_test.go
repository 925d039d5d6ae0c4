package pgbus_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

func BenchmarkPostgres(b *testing.B) {
	url := pgURL(b)
	bustest.Bench(b, func(tb testing.TB) bus.Broker { return newBroker(tb, url, freshPrefix(tb, url)) })
}

// BenchmarkPostgresPublishTx measures PublishTx in a transaction of its
// own (begin, publish, commit): the outbox path's cost per message.
func BenchmarkPostgresPublishTx(b *testing.B) {
	url := pgURL(b)
	br := newBroker(b, url, freshPrefix(b, url))
	defer br.Close()
	ctx := context.Background()
	data := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		err := pgx.BeginFunc(ctx, br.Pool, func(tx pgx.Tx) error {
			_, err := br.PublishTx(ctx, tx, "tx", bus.Message{Data: data})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
