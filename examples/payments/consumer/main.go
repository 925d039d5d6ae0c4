// Command consumer is the receiving side of the payments example: it
// accepts the provider's signed webhooks on /webhooks, verifies and
// deduplicates them, and shows the payments live on its page.
//
//	go run ./examples/payments/consumer
//
// Flags: -addr (default 127.0.0.1:8091) and -secret (the signing secret,
// the same as the provider's).
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
	addr := flag.String("addr", "127.0.0.1:8091", "listen address")
	secret := flag.String("secret", payments.DemoSecret, "webhook signing secret (whsec_…), the same as the provider's")
	flag.Parse()
	key, err := webhook.ParseSecret(*secret)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b := &bus.Memory{}
	defer b.Close()
	c := payments.NewConsumer(b, key, slog.Default())
	srv := &http.Server{Addr: *addr, Handler: c.Handler(), ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Shutdown(sctx)
	})
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("payments consumer on http://%s/, webhooks on http://%s/webhooks", *addr, *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
