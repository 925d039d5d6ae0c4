// Package pgtest gives the tests of pgbus and its subpackages a PostgreSQL
// database and a table prefix of their own.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// URL returns the connection string of the test database (PG_URL, by
// default the local server's database "test"), skipping the test when none
// answers, or failing it when PUSHPULL_REQUIRE_SERVICES=1.
func URL(tb testing.TB) string {
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

var seq atomic.Int64

// Prefix returns a table prefix that no other test, and no other run of the
// tests, uses, after running migrate with it; the tables and functions
// under it are dropped when the test ends.
func Prefix(tb testing.TB, url string, migrate func(ctx context.Context, pool *pgxpool.Pool, prefix string) error) string {
	tb.Helper()
	prefix := fmt.Sprintf("t%x_%d_", time.Now().UnixNano(), seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer pool.Close()
	if err := migrate(ctx, pool, prefix); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { drop(url, prefix) })
	return prefix
}

// drop removes the tables and functions whose names start with prefix.
func drop(url, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return
	}
	defer pool.Close()
	// prefix is ours: lower-case letters, digits and underscores.
	lit := "'" + prefix + "'"
	_, _ = pool.Exec(ctx, `DO $$ DECLARE r record; BEGIN
FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, `+lit+`) LOOP
	EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.tablename) || ' CASCADE';
END LOOP;
FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	WHERE n.nspname = current_schema() AND starts_with(p.proname, `+lit+`) LOOP
	EXECUTE 'DROP FUNCTION IF EXISTS ' || r.f;
END LOOP;
END $$`)
}
