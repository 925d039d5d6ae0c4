package payments_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/pgbus"
	"github.com/pushpull/pushpull/examples/payments"
	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pgURL returns the test database (PG_URL, by default the local server's
// database "test"), skipping the test when none answers, or failing it
// when PUSHPULL_REQUIRE_SERVICES=1.
func pgURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PG_URL")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, u)
	if err == nil {
		err = pool.Ping(ctx)
		pool.Close()
	}
	if err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("no PostgreSQL at %s (PG_URL): %v", u, err)
		}
		t.Skipf("no PostgreSQL at %s (set PG_URL, or start PostgreSQL): %v", u, err)
	}
	return u
}

// openPG opens the provider's PostgreSQL parts under a prefix of this
// test's own, and drops everything under it when the test ends.
func openPG(t testing.TB, u, prefix string) (*pgbus.Broker, *payments.PGStore, webhook.CursorStore) {
	t.Helper()
	b, st, cursors, err := payments.OpenPostgres(t.Context(), u, prefix)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b, st, cursors
}

// newPrefix returns a table prefix no other test or run uses, and drops
// its tables and functions when the test ends.
func newPrefix(t testing.TB, u string) string {
	t.Helper()
	prefix := fmt.Sprintf("pay%x_", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, u)
		if err != nil {
			t.Errorf("drop %s*: %v", prefix, err)
			return
		}
		defer pool.Close()
		// The prefix is ours: letters, digits and underscores only.
		_, err = pool.Exec(ctx, `DO $$ DECLARE o record; BEGIN
  FOR o IN SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
      AND left(c.relname, `+fmt.Sprint(len(prefix))+`) = '`+prefix+`' LOOP
    EXECUTE format('DROP TABLE %I CASCADE', o.relname);
  END LOOP;
  FOR o IN SELECT p.oid::regprocedure AS fn FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
      AND left(p.proname, `+fmt.Sprint(len(prefix))+`) = '`+prefix+`' LOOP
    EXECUTE format('DROP FUNCTION %s', o.fn);
  END LOOP;
END $$`)
		if err != nil {
			t.Errorf("drop %s*: %v", prefix, err)
		}
	})
	return prefix
}

// TestPostgresOutbox: a committed payment reaches the consumer once; one
// rolled back after its insert and its PublishTx never does, and leaves
// no row and no message.
func TestPostgresOutbox(t *testing.T) {
	u := pgURL(t)
	b, st, cursors := openPG(t, u, newPrefix(t, u))
	d := start(t, b, st, cursors)

	code, p1 := d.pay(t, "Ada", payments.Succeed)
	require.Equal(t, http.StatusCreated, code)
	code, _ = d.pay(t, "Bob", payments.Crash)
	require.Equal(t, http.StatusConflict, code)
	code, p3 := d.pay(t, "Eve", payments.Decline)
	require.Equal(t, http.StatusCreated, code)
	assert.Equal(t, "pay_1", p1.ID)
	assert.Equal(t, "pay_3", p3.ID, "the rolled-back payment took id 2 and gave it up")

	m, got := d.next(t)
	assert.Equal(t, payments.TypeSucceeded, m.Type)
	assert.Equal(t, p1, got)
	m, got = d.next(t)
	assert.Equal(t, payments.TypeFailed, m.Type)
	assert.Equal(t, p3, got)
	// Delivery is ordered: a duplicate, or the rolled-back payment's
	// event, would have come before p3's.
	assert.Len(t, d.history(t), 2)

	// The outbox holds two events with contiguous offsets, and the table
	// two payments.
	ms, err := b.Read(t.Context(), payments.Topic, bus.Oldest, 10)
	require.NoError(t, err)
	require.Len(t, ms, 2)
	first, err := ms[0].Position()
	require.NoError(t, err)
	second, err := ms[1].Position()
	require.NoError(t, err)
	assert.True(t, second.Follows(first), "offsets %v then %v", first, second)
	list, err := st.List(t.Context(), 10)
	require.NoError(t, err)
	assert.Equal(t, []payments.Payment{p3, p1}, list)
}

// TestPostgresResume: a provider restarted on the same database resumes
// after its stored cursor, so the consumer gets the new payment and none
// of the old ones again.
func TestPostgresResume(t *testing.T) {
	u := pgURL(t)
	prefix := newPrefix(t, u)
	b, st, cursors := openPG(t, u, prefix)
	d := start(t, b, st, cursors)
	code, p1 := d.pay(t, "Ada", payments.Succeed)
	require.Equal(t, http.StatusCreated, code)
	_, got := d.next(t)
	require.Equal(t, p1, got)

	// Delivery is at least once: the consumer may have p1 before the
	// Dispatcher stored its cursor. Stop it once the cursor is stored.
	out, err := b.Read(t.Context(), payments.Topic, bus.Oldest, 10)
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Eventually(t, func() bool {
		status, err := d.provider.Dispatcher.Status("consumer")
		return err == nil && status.Cursor == out[0].ID
	}, 30*time.Second, 10*time.Millisecond)
	d.stop()

	// The same consumer, a new provider (its own broker and dispatcher)
	// whose Endpoint.From is bus.Oldest: only the cursor stored in
	// PostgreSQL keeps it from delivering p1 again.
	b2, st2, cursors2 := openPG(t, u, prefix)
	p, err := payments.NewProvider(b2, st2, cursors2, d.csrv.URL+"/webhooks", secret(t), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Dispatcher.Run(ctx) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })

	p2, err := st2.Create(t.Context(), payments.Payment{Amount: 500, Currency: "USD", Customer: "Bob", Status: "succeeded"}, payments.Succeed)
	require.NoError(t, err)
	_, got = d.next(t)
	assert.Equal(t, p2, got)
	// The Dispatcher logs a delivery before its first attempt and
	// delivers in order, so p2 arriving means the log is complete: it
	// holds p2's delivery alone.
	ms, err := b2.Read(t.Context(), payments.Topic, bus.Oldest, 10)
	require.NoError(t, err)
	require.Len(t, ms, 2)
	logs, err := p.Dispatcher.Deliveries("consumer")
	require.NoError(t, err)
	require.Len(t, logs, 1)
	assert.Equal(t, ms[1].ID, logs[0].MessageID)
	assert.Len(t, d.history(t), 2)
}
