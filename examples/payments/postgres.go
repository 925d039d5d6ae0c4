package payments

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/pushpull/pushpull/bus/pgbus"
	"github.com/pushpull/pushpull/bus/pgbus/webhookstore"
)

// PGStore keeps payments in PostgreSQL, in the table "<prefix>payments"
// beside the bus's tables, and publishes each payment's event with
// Broker.PublishTx in the transaction that inserts its row (the
// transactional outbox). It is safe for concurrent use.
type PGStore struct {
	// Broker is the bus; its Pool and Prefix are the store's too.
	Broker *pgbus.Broker
}

var _ Store = (*PGStore)(nil)

// table is the payments table's name, quoted.
func (s *PGStore) table() (string, error) {
	prefix := s.Broker.Prefix
	if prefix == "" {
		prefix = pgbus.DefaultPrefix
	}
	if err := pgbus.ValidatePrefix(prefix); err != nil {
		return "", err
	}
	return pgx.Identifier{prefix + "payments"}.Sanitize(), nil
}

// Migrate creates the payments table if it does not exist.
func (s *PGStore) Migrate(ctx context.Context) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	_, err = s.Broker.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+t+` (
	id       bigserial PRIMARY KEY,
	amount   bigint NOT NULL,
	currency text NOT NULL,
	customer text NOT NULL,
	status   text NOT NULL,
	reason   text NOT NULL DEFAULT '',
	created  timestamptz NOT NULL DEFAULT now()
)`)
	if err != nil {
		return fmt.Errorf("payments: migrate: %w", err)
	}
	return nil
}

// Create implements Store: the insert and the event commit together, or
// neither does. A Crash rolls back after both were written; its id is
// then never used (a sequence leaves the hole; the bus's offsets do not).
func (s *PGStore) Create(ctx context.Context, p Payment, o Outcome) (Payment, error) {
	t, err := s.table()
	if err != nil {
		return Payment{}, err
	}
	err = pgx.BeginFunc(ctx, s.Broker.Pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO `+t+` (amount, currency, customer, status, reason)
VALUES ($1, $2, $3, $4, $5) RETURNING id, created`, p.Amount, p.Currency, p.Customer, p.Status, p.Reason).Scan(&id, &p.Created)
		if err != nil {
			return err
		}
		p.ID = "pay_" + strconv.FormatInt(id, 10)
		p.Created = p.Created.UTC()
		m, err := p.event()
		if err != nil {
			return err
		}
		if _, err := s.Broker.PublishTx(ctx, tx, Topic, m); err != nil {
			return err
		}
		if o == Crash {
			return ErrCrashed // BeginFunc rolls back: no row, no event
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, ErrCrashed) {
			err = fmt.Errorf("payments: create: %w", err)
		}
		return Payment{}, err
	}
	return p, nil
}

// List implements Store.
func (s *PGStore) List(ctx context.Context, limit int) ([]Payment, error) {
	t, err := s.table()
	if err != nil {
		return nil, err
	}
	rows, err := s.Broker.Pool.Query(ctx, `SELECT id, amount, currency, customer, status, reason, created
FROM `+t+` ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("payments: list: %w", err)
	}
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		var p Payment
		var id int64
		if err := rows.Scan(&id, &p.Amount, &p.Currency, &p.Customer, &p.Status, &p.Reason, &p.Created); err != nil {
			return nil, fmt.Errorf("payments: list: %w", err)
		}
		p.ID, p.Created = "pay_"+strconv.FormatInt(id, 10), p.Created.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("payments: list: %w", err)
	}
	return out, nil
}

// OpenPostgres returns the provider's bus, store and webhook cursor store
// on the PostgreSQL database at url, with every table under prefix (""
// means pgbus.DefaultPrefix), after creating what is missing. Closing the
// Broker closes them all.
func OpenPostgres(ctx context.Context, url, prefix string) (*pgbus.Broker, *PGStore, *webhookstore.Cursors, error) {
	b, err := pgbus.New(url)
	if err != nil {
		return nil, nil, nil, err
	}
	b.Prefix = prefix
	st := &PGStore{Broker: b}
	err = b.Migrate(ctx)
	if err == nil {
		err = webhookstore.Migrate(ctx, b.Pool, prefix)
	}
	if err == nil {
		err = st.Migrate(ctx)
	}
	if err != nil {
		_ = b.Close()
		return nil, nil, nil, err
	}
	return b, st, &webhookstore.Cursors{Pool: b.Pool, Prefix: prefix}, nil
}
