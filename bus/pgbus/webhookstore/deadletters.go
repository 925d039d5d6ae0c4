package webhookstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
)

// hookTimeout bounds the write of OnDeadLetter and OnAttempt, which get no
// context from the Dispatcher.
const hookTimeout = 10 * time.Second

// DeadLetters keeps a Dispatcher's dead letters in PostgreSQL, one row per
// endpoint and delivery, so they outlive the process and every instance
// sees them. Assign OnDeadLetter to webhook.Dispatcher.OnDeadLetter; list
// them with List, and after a successful Dispatcher.Redeliver (or to give
// up on one), Remove it.
//
// Pool is required. A DeadLetters is safe for concurrent use.
type DeadLetters struct {
	// Pool is the connection pool.
	Pool *pgxpool.Pool
	// Prefix starts the table name. Zero means pgbus.DefaultPrefix.
	Prefix string
	// Logger receives the errors of OnDeadLetter, which cannot return
	// them. Nil means silent.
	Logger *slog.Logger
}

// Add stores dl, replacing an earlier dead letter of the same endpoint and
// delivery.
func (s *DeadLetters) Add(ctx context.Context, dl webhook.DeadLetter) error {
	t, err := table(s.Prefix, "webhook_dead_letters")
	if err != nil {
		return err
	}
	attempts, err := json.Marshal(dl.Attempts)
	if err != nil {
		return fmt.Errorf("webhookstore: add dead letter: %w", err)
	}
	if attempts == nil || string(attempts) == "null" {
		attempts = []byte("[]")
	}
	rec := bus.AppendRecord(nil, &dl.Message)
	at, nanos := splitTime(dl.At)
	_, err = s.Pool.Exec(ctx, "INSERT INTO "+t+" ("+deadLetterColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (endpoint, delivery) DO UPDATE SET topic = EXCLUDED.topic, message_id = EXCLUDED.message_id,
record = EXCLUDED.record, attempts = EXCLUDED.attempts, error = EXCLUDED.error, at = EXCLUDED.at, at_nanos = EXCLUDED.at_nanos`,
		dl.Endpoint, dl.Delivery, dl.Message.Topic, dl.Message.ID, rec, attempts, dl.Error, at, nanos)
	if err != nil {
		return fmt.Errorf("webhookstore: add dead letter: %w", err)
	}
	return nil
}

// OnDeadLetter stores dl, for webhook.Dispatcher.OnDeadLetter. Errors go to
// Logger.
func (s *DeadLetters) OnDeadLetter(dl webhook.DeadLetter) {
	ctx, cancel := context.WithTimeout(context.Background(), hookTimeout)
	defer cancel()
	if err := s.Add(ctx, dl); err != nil && s.Logger != nil {
		s.Logger.Error("webhookstore: dead letter not stored", "endpoint", dl.Endpoint, "delivery", dl.Delivery, "error", err)
	}
}

// List returns up to limit dead letters of endpoint ("" for every
// endpoint), oldest first. limit <= 0 means no limit.
func (s *DeadLetters) List(ctx context.Context, endpoint string, limit int) ([]webhook.DeadLetter, error) {
	t, err := table(s.Prefix, "webhook_dead_letters")
	if err != nil {
		return nil, err
	}
	var lim any
	if limit > 0 {
		lim = int64(limit)
	}
	return query(ctx, s.Pool, "list dead letters", scanDeadLetter, "SELECT "+deadLetterColumns+" FROM "+t+`
WHERE $1 = '' OR endpoint = $1 ORDER BY at, at_nanos, endpoint, delivery LIMIT $2`, endpoint, lim)
}

// ErrNotFound is returned by Remove for a dead letter that is not stored.
var ErrNotFound = errors.New("webhookstore: not found")

// Remove deletes the dead letter of endpoint and delivery, or returns
// ErrNotFound.
func (s *DeadLetters) Remove(ctx context.Context, endpoint, delivery string) error {
	t, err := table(s.Prefix, "webhook_dead_letters")
	if err != nil {
		return err
	}
	tag, err := s.Pool.Exec(ctx, "DELETE FROM "+t+" WHERE endpoint = $1 AND delivery = $2", endpoint, delivery)
	if err != nil {
		return fmt.Errorf("webhookstore: remove dead letter: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
