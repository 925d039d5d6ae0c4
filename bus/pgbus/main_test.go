package pgbus_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus/pgbus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pgURL returns the connection string of the test database, skipping the
// test when none answers (failing it when PUSHPULL_REQUIRE_SERVICES=1).
func pgURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("PG_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err == nil {
		defer pool.Close()
		err = pool.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("no PostgreSQL at %s (PG_URL): %v", url, err)
		}
		tb.Skipf("no PostgreSQL at %s (set PG_URL, or start PostgreSQL): %v", url, err)
	}
	return url
}

var prefixSeq atomic.Int64

// freshPrefix creates the schema under a prefix no other test (or test
// run) uses, and drops it when the test ends.
func freshPrefix(tb testing.TB, url string) string {
	tb.Helper()
	prefix := fmt.Sprintf("t%x_%d_", time.Now().UnixNano(), prefixSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer pool.Close()
	if err := pgbus.Migrate(ctx, pool, prefix); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dropSchema(url, prefix) })
	return prefix
}

// dropSchema removes the tables and functions of prefix.
func dropSchema(url, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return
	}
	defer pool.Close()
	_, _ = pool.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %[1]stopics, %[1]smessages;
DROP FUNCTION IF EXISTS %[1]spublish(text, text, bytea, bigint);
DROP FUNCTION IF EXISTS %[1]sexpire(text, timestamptz, bigint)`, prefix))
}

// newBroker returns a broker on its own connection pool and prefix.
func newBroker(tb testing.TB, url, prefix string) *pgbus.Broker {
	tb.Helper()
	b, err := pgbus.New(url)
	if err != nil {
		tb.Fatal(err)
	}
	b.Prefix = prefix
	return b
}
