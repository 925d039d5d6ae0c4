package webhookstore_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus/pgbus/webhookstore"
	"github.com/pushpull/pushpull/webhook"
)

// A Dispatcher and a Receiver whose state lives in PostgreSQL.
func Example() {
	pool, err := pgxpool.New(context.Background(), "postgres://app@localhost:5432/app") // connects on first use
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	// Run webhookstore.Migrate(ctx, pool, "") once, or apply Schema("").
	store := &webhookstore.Store{Pool: pool} // cursors, endpoints, leases, attempts, dead letters
	d := &webhook.Dispatcher{Store: store, Retention: 30 * 24 * time.Hour}
	r := &webhook.Receiver{Idempotency: &webhookstore.Idempotency{Pool: pool}}
	_, _ = d, r

	sql, err := webhookstore.Schema("shop_")
	if err != nil {
		log.Fatal(err)
	}
	for line := range strings.Lines(sql) {
		if strings.HasPrefix(line, "CREATE TABLE") {
			fmt.Print(strings.TrimSuffix(line, " (\n"), "\n")
		}
	}
	// Output:
	// CREATE TABLE IF NOT EXISTS shop_webhook_cursors
	// CREATE TABLE IF NOT EXISTS shop_webhook_claims
	// CREATE TABLE IF NOT EXISTS shop_webhook_dead_letters
	// CREATE TABLE IF NOT EXISTS shop_webhook_attempts
	// CREATE TABLE IF NOT EXISTS shop_webhook_endpoints
	// CREATE TABLE IF NOT EXISTS shop_webhook_revision
	// CREATE TABLE IF NOT EXISTS shop_webhook_leases
}
