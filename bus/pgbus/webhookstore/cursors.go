package webhookstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/webhook"
)

// Cursors is a webhook.CursorStore on PostgreSQL: each endpoint's position
// is one row, written durably (a committed UPDATE) before Save returns.
//
// Pool is required. A Cursors is safe for concurrent use.
type Cursors struct {
	// Pool is the connection pool.
	Pool *pgxpool.Pool
	// Prefix starts the table name. Zero means pgbus.DefaultPrefix.
	Prefix string
}

var _ webhook.CursorStore = (*Cursors)(nil)

// Load implements webhook.CursorStore.
func (s *Cursors) Load(ctx context.Context, key string) (string, error) {
	t, err := table(s.Prefix, "webhook_cursors")
	if err != nil {
		return "", err
	}
	var cursor string
	err = s.Pool.QueryRow(ctx, "SELECT cursor FROM "+t+" WHERE key = $1", key).Scan(&cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("webhookstore: load cursor: %w", err)
	}
	return cursor, nil
}

// Save implements webhook.CursorStore.
func (s *Cursors) Save(ctx context.Context, key, cursor string) error {
	t, err := table(s.Prefix, "webhook_cursors")
	if err != nil {
		return err
	}
	_, err = s.Pool.Exec(ctx, "INSERT INTO "+t+` (key, cursor) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET cursor = EXCLUDED.cursor, updated = clock_timestamp()`, key, cursor)
	if err != nil {
		return fmt.Errorf("webhookstore: save cursor: %w", err)
	}
	return nil
}
