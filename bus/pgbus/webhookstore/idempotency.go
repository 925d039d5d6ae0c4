package webhookstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/webhook"
)

// Idempotency is a webhook.IdempotencyStore on PostgreSQL, shared by every
// instance of a webhook.Receiver: a claim is one INSERT ... ON CONFLICT
// that takes a free or expired key, so of concurrent claims of a key
// exactly one gets webhook.Claimed. Expiry is judged by the database's
// clock.
//
// Pool is required. An Idempotency is safe for concurrent use.
type Idempotency struct {
	// Pool is the connection pool.
	Pool *pgxpool.Pool
	// Prefix starts the table name. Zero means pgbus.DefaultPrefix.
	Prefix string

	claims atomic.Uint64
}

var _ webhook.IdempotencyStore = (*Idempotency)(nil)

// ClaimTimeout bounds a claim, which the end of its context does not
// interrupt (see Idempotency.Claim).
const ClaimTimeout = 30 * time.Second

// Sweep bounds.
const (
	sweepEvery = 1024 // claims between automatic sweeps
	sweepRows  = 1000 // rows removed by one sweep
)

// Claim implements webhook.IdempotencyStore. Once started, a claim is not
// interrupted by the end of ctx (it is bounded by ClaimTimeout instead):
// an INSERT cut off mid-way may have taken the key without the caller
// learning it, which would leave the event "in progress" for the claim's
// whole ttl and refuse every redelivery meanwhile.
func (s *Idempotency) Claim(ctx context.Context, key string, ttl time.Duration) (webhook.ClaimState, error) {
	t, err := table(s.Prefix, "webhook_claims")
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("webhookstore: claim: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ClaimTimeout)
	defer cancel()
	if s.claims.Add(1)%sweepEvery == 0 {
		_, _ = s.Sweep(ctx) // best effort; expired rows never count as claims
	}
	ms := max(ttl.Milliseconds(), 1)
	for range 3 {
		var taken bool
		err := s.Pool.QueryRow(ctx, "INSERT INTO "+t+` AS c (key, done, expires)
VALUES ($1, false, clock_timestamp() + $2 * interval '1 millisecond')
ON CONFLICT (key) DO UPDATE SET done = false, expires = EXCLUDED.expires
WHERE c.expires <= clock_timestamp()
RETURNING true`, key, ms).Scan(&taken)
		if err == nil {
			return webhook.Claimed, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("webhookstore: claim: %w", err)
		}
		var done bool
		err = s.Pool.QueryRow(ctx, "SELECT done FROM "+t+" WHERE key = $1 AND expires > clock_timestamp()", key).Scan(&done)
		switch {
		case err == nil && done:
			return webhook.Done, nil
		case err == nil:
			return webhook.InProgress, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return 0, fmt.Errorf("webhookstore: claim: %w", err)
		}
		// Released or expired in between: try to take it again.
	}
	return webhook.InProgress, nil
}

// Complete implements webhook.IdempotencyStore.
func (s *Idempotency) Complete(ctx context.Context, key string, ttl time.Duration) error {
	t, err := table(s.Prefix, "webhook_claims")
	if err != nil {
		return err
	}
	_, err = s.Pool.Exec(ctx, "INSERT INTO "+t+` (key, done, expires)
VALUES ($1, true, clock_timestamp() + $2 * interval '1 millisecond')
ON CONFLICT (key) DO UPDATE SET done = true, expires = EXCLUDED.expires`, key, max(ttl.Milliseconds(), 1))
	if err != nil {
		return fmt.Errorf("webhookstore: complete: %w", err)
	}
	return nil
}

// Release implements webhook.IdempotencyStore. A key that is done stays
// done.
func (s *Idempotency) Release(ctx context.Context, key string) error {
	t, err := table(s.Prefix, "webhook_claims")
	if err != nil {
		return err
	}
	if _, err := s.Pool.Exec(ctx, "DELETE FROM "+t+" WHERE key = $1 AND NOT done", key); err != nil {
		return fmt.Errorf("webhookstore: release: %w", err)
	}
	return nil
}

// Sweep removes up to a thousand expired claims and returns how many.
func (s *Idempotency) Sweep(ctx context.Context) (int64, error) {
	t, err := table(s.Prefix, "webhook_claims")
	if err != nil {
		return 0, err
	}
	tag, err := s.Pool.Exec(ctx, "DELETE FROM "+t+` WHERE key IN (SELECT key FROM `+t+`
WHERE expires <= clock_timestamp() LIMIT $1) AND expires <= clock_timestamp()`, sweepRows)
	if err != nil {
		return 0, fmt.Errorf("webhookstore: sweep: %w", err)
	}
	return tag.RowsAffected(), nil
}
