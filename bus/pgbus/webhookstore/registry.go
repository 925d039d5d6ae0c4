package webhookstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pushpull/pushpull/webhook"
)

// PutEndpoint implements webhook.Registry. The row and the registry's
// revision change in one transaction; the version check is part of the
// UPDATE, so of concurrent updates carrying one version exactly one
// succeeds.
func (s *Store) PutEndpoint(ctx context.Context, c webhook.EndpointConfig) (webhook.EndpointConfig, error) {
	t, err := s.table("webhook_endpoints")
	if err != nil {
		return webhook.EndpointConfig{}, err
	}
	if err := c.Validate(); err != nil {
		return webhook.EndpointConfig{}, err
	}
	rev, _ := table(s.Prefix, "webhook_revision")
	version := c.Version
	c.Version, c.Created, c.Updated = 0, c.Created.UTC(), c.Updated.UTC() // kept in their columns
	sealed, err := s.Secrets.Seal(c)
	if err != nil {
		return webhook.EndpointConfig{}, fmt.Errorf("webhookstore: put endpoint %q: %w", c.ID, err)
	}
	config, err := json.Marshal(sealed)
	if err != nil {
		return webhook.EndpointConfig{}, fmt.Errorf("webhookstore: put endpoint: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var row pgx.Row
		if version == 0 {
			row = tx.QueryRow(ctx, "INSERT INTO "+t+` (id, config, version, created, updated)
SELECT $1, $2, 1, t, t FROM (SELECT clock_timestamp() AS t) now ON CONFLICT (id) DO NOTHING
RETURNING version, created, updated`, c.ID, config)
		} else {
			row = tx.QueryRow(ctx, "UPDATE "+t+` SET config = $2, version = version + 1, updated = clock_timestamp()
WHERE id = $1 AND version = $3 RETURNING version, created, updated`, c.ID, config, version)
		}
		err := row.Scan(&c.Version, &c.Created, &c.Updated)
		if errors.Is(err, pgx.ErrNoRows) {
			if version == 0 {
				return webhook.ErrConflict
			}
			var stored int64
			err = tx.QueryRow(ctx, "SELECT version FROM "+t+" WHERE id = $1", c.ID).Scan(&stored)
			if errors.Is(err, pgx.ErrNoRows) {
				return webhook.ErrEndpointNotFound
			}
			if err == nil {
				return webhook.ErrConflict
			}
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE "+rev+" SET revision = revision + 1")
		return err
	})
	if err != nil {
		return webhook.EndpointConfig{}, fmt.Errorf("webhookstore: put endpoint %q: %w", c.ID, err)
	}
	c.Created, c.Updated = c.Created.UTC(), c.Updated.UTC()
	return c, nil
}

// GetEndpoint implements webhook.Registry.
func (s *Store) GetEndpoint(ctx context.Context, id string) (webhook.EndpointConfig, error) {
	t, err := s.table("webhook_endpoints")
	if err != nil {
		return webhook.EndpointConfig{}, err
	}
	rows, err := s.Pool.Query(ctx, "SELECT config, version, created, updated FROM "+t+" WHERE id = $1", id)
	if err == nil {
		var c webhook.EndpointConfig
		c, err = pgx.CollectExactlyOneRow(rows, scanEndpoint)
		if errors.Is(err, pgx.ErrNoRows) {
			err = webhook.ErrEndpointNotFound
		}
		if err == nil {
			c, err = s.Secrets.Open(c)
		}
		if err == nil {
			return c, nil
		}
	}
	return webhook.EndpointConfig{}, fmt.Errorf("webhookstore: get endpoint %q: %w", id, err)
}

// DeleteEndpoint implements webhook.Registry. The endpoint's cursor, attempts
// and dead letters stay.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	t, err := s.table("webhook_endpoints")
	if err != nil {
		return err
	}
	rev, _ := table(s.Prefix, "webhook_revision")
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM "+t+" WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return webhook.ErrEndpointNotFound
		}
		_, err = tx.Exec(ctx, "UPDATE "+rev+" SET revision = revision + 1")
		return err
	})
	if err != nil {
		return fmt.Errorf("webhookstore: delete endpoint %q: %w", id, err)
	}
	return nil
}

// ListEndpoints implements webhook.Registry: every endpoint, sorted by the
// bytes of its ID.
func (s *Store) ListEndpoints(ctx context.Context) ([]webhook.EndpointConfig, error) {
	t, err := s.table("webhook_endpoints")
	if err != nil {
		return nil, err
	}
	cs, err := query(ctx, s.Pool, "list endpoints", scanEndpoint, "SELECT config, version, created, updated FROM "+t+` ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if cs[i], err = s.Secrets.Open(cs[i]); err != nil {
			return nil, fmt.Errorf("webhookstore: list endpoints: %w", err)
		}
	}
	return cs, nil
}

// Revision implements webhook.Registry: a counter incremented in the
// transaction of every change.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	t, err := s.table("webhook_revision")
	if err != nil {
		return 0, err
	}
	var rev int64
	if err := s.Pool.QueryRow(ctx, "SELECT revision FROM "+t).Scan(&rev); err != nil {
		return 0, fmt.Errorf("webhookstore: revision: %w", err)
	}
	return rev, nil
}

func scanEndpoint(row pgx.CollectableRow) (webhook.EndpointConfig, error) {
	var (
		c      webhook.EndpointConfig
		config []byte
	)
	if err := row.Scan(&config, &c.Version, &c.Created, &c.Updated); err != nil {
		return c, err
	}
	version, created, updated := c.Version, c.Created.UTC(), c.Updated.UTC()
	if err := json.Unmarshal(config, &c); err != nil {
		return c, err
	}
	c.Version, c.Created, c.Updated = version, created, updated
	return c, nil
}
