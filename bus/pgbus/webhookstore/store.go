package webhookstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/webhook"
)

// Store is a webhook.Store on PostgreSQL: everything a Dispatcher
// persists, shared by every instance that uses the same database and
// prefix. It holds the cursors (as [Cursors]), the endpoint registry, the
// leases, the attempt log (as [Attempts]) and the dead letters (as
// [DeadLetters]), in the tables of [Schema]. Times that decide (lease
// expiry, Created, Updated) are the database's clock.
//
// Pool is required. A Store is safe for concurrent use; it starts no
// goroutine.
type Store struct {
	// Pool is the connection pool.
	Pool *pgxpool.Pool
	// Prefix starts the table names. Zero means pgbus.DefaultPrefix.
	Prefix string
	// Secrets, when set, seals the endpoints' secrets and header values
	// in the table and opens them on reading (webhook.SecretCipher);
	// values stored in the clear before are read as they are and sealed
	// at their next write. Nil stores them in the clear.
	Secrets *webhook.SecretCipher
}

var _ webhook.Store = (*Store)(nil)

// errNoPool is the error of a Store without a Pool.
var errNoPool = errors.New("webhookstore: Store.Pool is nil")

// tables returns the names of the tables the Store uses.
func (s *Store) table(name string) (string, error) {
	if s.Pool == nil {
		return "", errNoPool
	}
	return table(s.Prefix, name)
}

// Load implements webhook.CursorStore.
func (s *Store) Load(ctx context.Context, key string) (string, error) {
	if s.Pool == nil {
		return "", errNoPool
	}
	return (&Cursors{Pool: s.Pool, Prefix: s.Prefix}).Load(ctx, key)
}

// Save implements webhook.CursorStore.
func (s *Store) Save(ctx context.Context, key, cursor string) error {
	if s.Pool == nil {
		return errNoPool
	}
	return (&Cursors{Pool: s.Pool, Prefix: s.Prefix}).Save(ctx, key, cursor)
}

// AcquireLease implements webhook.Leases. The lease is one row, taken by
// an INSERT ... ON CONFLICT that succeeds only for its holder or once it
// expired by the database's clock, so the instances' clocks do not
// matter.
func (s *Store) AcquireLease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	t, err := s.table("webhook_leases")
	if err != nil {
		return false, err
	}
	if holder == "" {
		return false, errors.New("webhookstore: acquire lease: empty holder")
	}
	var held bool
	err = s.Pool.QueryRow(ctx, "INSERT INTO "+t+` AS l (key, holder, expires)
VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, expires = EXCLUDED.expires
WHERE l.holder = EXCLUDED.holder OR l.expires <= clock_timestamp()
RETURNING true`, key, holder, max(ttl.Milliseconds(), 1)).Scan(&held)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("webhookstore: acquire lease: %w", err)
	}
	return held, nil
}

// ReleaseLease implements webhook.Leases.
func (s *Store) ReleaseLease(ctx context.Context, key, holder string) error {
	t, err := s.table("webhook_leases")
	if err != nil {
		return err
	}
	if _, err := s.Pool.Exec(ctx, "DELETE FROM "+t+" WHERE key = $1 AND holder = $2", key, holder); err != nil {
		return fmt.Errorf("webhookstore: release lease: %w", err)
	}
	return nil
}

// query runs sql and reads every row with scan; its errors say what
// failed.
func query[T any](ctx context.Context, pool *pgxpool.Pool, what string, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := pool.Query(ctx, sql, args...)
	var out []T
	if err == nil {
		out, err = pgx.CollectRows(rows, scan)
	}
	if err != nil {
		return nil, fmt.Errorf("webhookstore: %s: %w", what, err)
	}
	return out, nil
}

// pruneBatch deletes, in bounded statements, the rows of t whose time
// (column at and at_nanos) is before before, and returns how many.
func (s *Store) pruneBatch(ctx context.Context, t, key string, before time.Time) (int, error) {
	at, nanos := splitTime(before)
	total := 0
	for {
		tag, err := s.Pool.Exec(ctx, "DELETE FROM "+t+" WHERE ("+key+") IN (SELECT "+key+" FROM "+t+`
WHERE (at, at_nanos) < ($1, $2) LIMIT $3)`, at, nanos, sweepRows)
		if err != nil {
			return total, err
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < sweepRows {
			return total, nil
		}
	}
}

// splitTime returns t to the microsecond, as PostgreSQL keeps it, and the
// nanoseconds beyond.
func splitTime(t time.Time) (time.Time, int32) {
	us := t.Truncate(time.Microsecond)
	return us, int32(t.Sub(us))
}

// joinTime is the inverse of splitTime, in UTC.
func joinTime(t time.Time, nanos int32) time.Time {
	return t.Add(time.Duration(nanos)).UTC()
}
