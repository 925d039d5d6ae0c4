// Command provider is the payment provider of the payments example: a page
// to take payments, each stored with its event, and a webhook dispatcher
// that delivers the events, signed, to the consumer (../consumer).
//
//	go run ./examples/payments/provider                 # in memory
//	go run ./examples/payments/provider -pg postgres://postgres@127.0.0.1:5432/test
//
// With -pg the payments and their events are written in one PostgreSQL
// transaction (the outbox, bus/pgbus), and the dispatcher's cursor is kept
// there too. Flags: -addr (default 127.0.0.1:8090), -consumer (the
// consumer's webhook URL), -secret (the signing secret, shared with the
// consumer), -pg.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/payments"
	"github.com/pushpull/pushpull/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	consumer := flag.String("consumer", "http://127.0.0.1:8091/webhooks", "the consumer's webhook URL")
	secret := flag.String("secret", payments.DemoSecret, "webhook signing secret (whsec_…), the same as the consumer's")
	pg := flag.String("pg", "", "PostgreSQL connection string: store payments and publish their events in one transaction (bus/pgbus)")
	prefix := flag.String("prefix", "", "with -pg, the prefix of the tables (default pushpull_)")
	flag.Parse()
	key, err := webhook.ParseSecret(*secret)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var b bus.Broker
	var st payments.Store
	var cursors webhook.CursorStore
	mode := "memory"
	if *pg != "" {
		pb, ps, pc, err := payments.OpenPostgres(ctx, *pg, *prefix)
		if err != nil {
			log.Fatal(err)
		}
		b, st, cursors, mode = pb, ps, pc, "PostgreSQL"
	} else {
		mb := &bus.Memory{}
		b, st = mb, &payments.MemoryStore{Bus: mb}
	}
	defer b.Close()
	p, err := payments.NewProvider(b, st, cursors, *consumer, key, slog.Default())
	if err != nil {
		log.Fatal(err)
	}
	p.Mode = mode

	srv := &http.Server{Addr: *addr, Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second}
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		_ = p.Dispatcher.Run(ctx)
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("payments provider (%s) on http://%s/, delivering to %s", mode, *addr, *consumer)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-dispatched
}
