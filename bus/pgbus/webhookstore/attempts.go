package webhookstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/webhook"
)

// Attempts is a Dispatcher's attempt log in PostgreSQL: one row per attempt
// of every delivery, with its status, latency, error and the start of the
// response. Assign OnAttempt to webhook.Dispatcher.OnAttempt; read it with
// List; remove old rows with Prune.
//
// Pool is required. An Attempts is safe for concurrent use.
type Attempts struct {
	// Pool is the connection pool.
	Pool *pgxpool.Pool
	// Prefix starts the table name. Zero means pgbus.DefaultPrefix.
	Prefix string
	// Logger receives the errors of OnAttempt, which cannot return them.
	// Nil means no logging.
	Logger *slog.Logger
}

// Add appends a to the log.
func (s *Attempts) Add(ctx context.Context, a webhook.Attempt) error {
	t, err := table(s.Prefix, "webhook_attempts")
	if err != nil {
		return err
	}
	resp := a.Response
	if resp == nil {
		resp = []byte{}
	}
	at, nanos := splitTime(a.At)
	_, err = s.Pool.Exec(ctx, "INSERT INTO "+t+" ("+attemptColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		a.Endpoint, a.Delivery, a.Message, a.Type, a.N, at, nanos, a.Status, int64(a.Latency), a.Error, resp, int64(a.Next))
	if err != nil {
		return fmt.Errorf("webhookstore: add attempt: %w", err)
	}
	return nil
}

// OnAttempt appends a, for webhook.Dispatcher.OnAttempt. Errors go to
// Logger.
func (s *Attempts) OnAttempt(a webhook.Attempt) {
	ctx, cancel := context.WithTimeout(context.Background(), hookTimeout)
	defer cancel()
	if err := s.Add(ctx, a); err != nil && s.Logger != nil {
		s.Logger.Error("webhookstore: attempt not logged", "endpoint", a.Endpoint, "delivery", a.Delivery, "error", err)
	}
}

// List returns the newest limit attempts of endpoint, oldest first
// (limit <= 0: all of them). Attempt.OK is not kept: an attempt succeeded
// when its Error is empty.
func (s *Attempts) List(ctx context.Context, endpoint string, limit int) ([]webhook.Attempt, error) {
	t, err := table(s.Prefix, "webhook_attempts")
	if err != nil {
		return nil, err
	}
	var lim any
	if limit > 0 {
		lim = int64(limit)
	}
	return query(ctx, s.Pool, "list attempts", scanAttempt, "SELECT "+attemptColumns+` FROM (
SELECT * FROM `+t+` WHERE endpoint = $1 ORDER BY id DESC LIMIT $2) a ORDER BY id`, endpoint, lim)
}

// Prune removes up to a thousand attempts older than age (by the time they
// started) and returns how many; call it until it returns less than that.
func (s *Attempts) Prune(ctx context.Context, age time.Duration) (int64, error) {
	t, err := table(s.Prefix, "webhook_attempts")
	if err != nil {
		return 0, err
	}
	tag, err := s.Pool.Exec(ctx, "DELETE FROM "+t+` WHERE id IN (SELECT id FROM `+t+`
WHERE at < clock_timestamp() - $1 * interval '1 second' LIMIT $2)`, age.Seconds(), sweepRows)
	if err != nil {
		return 0, fmt.Errorf("webhookstore: prune attempts: %w", err)
	}
	return tag.RowsAffected(), nil
}
