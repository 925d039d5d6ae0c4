package webhookstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
)

// errNoEndpoint is the error of an AttemptQuery without its Endpoint.
var errNoEndpoint = errors.New("webhookstore: list attempts: the query has no Endpoint")

// AddAttempt implements webhook.AttemptLog.
func (s *Store) AddAttempt(ctx context.Context, a webhook.Attempt) error {
	if s.Pool == nil {
		return errNoPool
	}
	return (&Attempts{Pool: s.Pool, Prefix: s.Prefix}).Add(ctx, a)
}

// attemptColumns are the columns scanAttempt reads, in its order.
const attemptColumns = "endpoint, delivery, message, type, n, at, at_nanos, status, latency_ns, error, response, next_ns"

func scanAttempt(row pgx.CollectableRow) (webhook.Attempt, error) {
	var (
		a             webhook.Attempt
		latency, next int64
		nanos         int32
	)
	err := row.Scan(&a.Endpoint, &a.Delivery, &a.Message, &a.Type, &a.N, &a.At, &nanos, &a.Status, &latency, &a.Error, &a.Response, &next)
	a.At = joinTime(a.At, nanos)
	a.Latency, a.Next = time.Duration(latency), time.Duration(next)
	if len(a.Response) == 0 {
		a.Response = nil
	}
	return a, err
}

// ListAttempts implements webhook.AttemptLog. An attempt failed unless it
// has no Error and a 2xx Status, as webhook.Attempt.OK says of attempts
// read back.
func (s *Store) ListAttempts(ctx context.Context, q webhook.AttemptQuery) ([]webhook.Attempt, error) {
	t, err := s.table("webhook_attempts")
	if err != nil {
		return nil, err
	}
	if q.Endpoint == "" {
		return nil, errNoEndpoint
	}
	var w where
	w.add("endpoint = " + w.arg(q.Endpoint))
	if q.Delivery != "" {
		w.add("delivery = " + w.arg(q.Delivery))
	}
	w.times(q.Since, q.Until)
	if q.FailedOnly {
		w.add("NOT (error = '' AND status BETWEEN 200 AND 299)")
	}
	return query(ctx, s.Pool, "list attempts", scanAttempt, "SELECT "+attemptColumns+" FROM "+t+w.String()+
		" ORDER BY at, at_nanos, id LIMIT "+w.arg(webhook.QueryLimit(q.Limit)), w.args...)
}

// PruneAttempts implements webhook.AttemptLog, in statements of at most a
// thousand rows each.
func (s *Store) PruneAttempts(ctx context.Context, before time.Time) (int, error) {
	t, err := s.table("webhook_attempts")
	if err != nil {
		return 0, err
	}
	n, err := s.pruneBatch(ctx, t, "id", before)
	if err != nil {
		return n, fmt.Errorf("webhookstore: prune attempts: %w", err)
	}
	return n, nil
}

// where builds the WHERE clause of a query with only the conditions it
// needs, so that every one can use an index.
type where struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

// times adds since <= at < until, each bound when not zero: at to the
// microsecond for the index, then exactly with at_nanos.
func (w *where) times(since, until time.Time) {
	if !since.IsZero() {
		us, ns := splitTime(since)
		a := w.arg(us)
		w.add("at >= " + a + " AND (at, at_nanos) >= (" + a + ", " + w.arg(ns) + ")")
	}
	if !until.IsZero() {
		us, ns := splitTime(until)
		a := w.arg(us)
		w.add("at <= " + a + " AND (at, at_nanos) < (" + a + ", " + w.arg(ns) + ")")
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// AddDeadLetter implements webhook.DeadLetterStore.
func (s *Store) AddDeadLetter(ctx context.Context, dl webhook.DeadLetter) error {
	if s.Pool == nil {
		return errNoPool
	}
	return (&DeadLetters{Pool: s.Pool, Prefix: s.Prefix}).Add(ctx, dl)
}

// deadLetterColumns are the columns scanDeadLetter reads, in its order.
const deadLetterColumns = "endpoint, delivery, topic, message_id, record, attempts, error, at, at_nanos"

func scanDeadLetter(row pgx.CollectableRow) (webhook.DeadLetter, error) {
	var (
		dl       webhook.DeadLetter
		rec      []byte
		attempts []byte
		nanos    int32
	)
	if err := row.Scan(&dl.Endpoint, &dl.Delivery, &dl.Message.Topic, &dl.Message.ID, &rec, &attempts, &dl.Error, &dl.At, &nanos); err != nil {
		return dl, err
	}
	dl.At = joinTime(dl.At, nanos)
	err := bus.DecodeRecord(rec, &dl.Message)
	if err != nil {
		return dl, err
	}
	// webhook.Attempt reads the JSON of earlier versions too.
	return dl, json.Unmarshal(attempts, &dl.Attempts)
}

// ListDeadLetters implements webhook.DeadLetterStore.
func (s *Store) ListDeadLetters(ctx context.Context, q webhook.DeadLetterQuery) ([]webhook.DeadLetter, error) {
	t, err := s.table("webhook_dead_letters")
	if err != nil {
		return nil, err
	}
	var w where
	if q.Endpoint != "" {
		w.add("endpoint = " + w.arg(q.Endpoint))
	}
	w.times(q.Since, q.Until)
	return query(ctx, s.Pool, "list dead letters", scanDeadLetter, "SELECT "+deadLetterColumns+" FROM "+t+w.String()+
		` ORDER BY at, at_nanos, endpoint COLLATE "C", delivery COLLATE "C" LIMIT `+w.arg(webhook.QueryLimit(q.Limit)), w.args...)
}

// RemoveDeadLetter implements webhook.DeadLetterStore.
func (s *Store) RemoveDeadLetter(ctx context.Context, endpoint, delivery string) error {
	if s.Pool == nil {
		return errNoPool
	}
	err := (&DeadLetters{Pool: s.Pool, Prefix: s.Prefix}).Remove(ctx, endpoint, delivery)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("webhookstore: remove dead letter %s of %s: %w", delivery, endpoint, webhook.ErrDeadLetterNotFound)
	}
	return err
}

// PruneDeadLetters implements webhook.DeadLetterStore, in statements of at
// most a thousand rows each.
func (s *Store) PruneDeadLetters(ctx context.Context, before time.Time) (int, error) {
	t, err := s.table("webhook_dead_letters")
	if err != nil {
		return 0, err
	}
	n, err := s.pruneBatch(ctx, t, "endpoint, delivery", before)
	if err != nil {
		return n, fmt.Errorf("webhookstore: prune dead letters: %w", err)
	}
	return n, nil
}
