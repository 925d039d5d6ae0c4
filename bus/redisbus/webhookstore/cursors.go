package webhookstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/pushpull/pushpull/webhook"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts the keys of Cursors and Idempotency when their Prefix
// is empty.
const DefaultPrefix = "pushpull:webhook:"

// errNoClient is the error of a store made without its constructor.
var errNoClient = errors.New("webhookstore: no Redis client; make the store with NewCursors or NewIdempotency")

// prefix returns p, or DefaultPrefix when p is empty.
func prefix(p string) string {
	if p == "" {
		return DefaultPrefix
	}
	return p
}

// Cursors is a webhook.CursorStore on Redis: each endpoint's position is one
// string key, so a Dispatcher restarted on any instance resumes where the
// last one stopped. Positions are as durable as the Redis holding them (see
// the package documentation).
//
// Make it with NewCursors. Prefix must not be changed after the first call.
// A Cursors is safe for concurrent use.
type Cursors struct {
	// Prefix starts every key. Empty means DefaultPrefix.
	Prefix string

	client redis.UniversalClient
}

var _ webhook.CursorStore = (*Cursors)(nil)

// NewCursors returns a CursorStore on the Redis of client.
func NewCursors(client redis.UniversalClient) *Cursors {
	return &Cursors{client: client}
}

func (s *Cursors) key(k string) string { return prefix(s.Prefix) + "cursor:" + k }

// Load implements webhook.CursorStore.
func (s *Cursors) Load(ctx context.Context, key string) (string, error) {
	if s.client == nil {
		return "", errNoClient
	}
	v, err := s.client.Get(ctx, s.key(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("webhookstore: load cursor: %w", err)
	}
	return v, nil
}

// Save implements webhook.CursorStore.
func (s *Cursors) Save(ctx context.Context, key, cursor string) error {
	if s.client == nil {
		return errNoClient
	}
	if err := s.client.Set(ctx, s.key(key), cursor, 0).Err(); err != nil {
		return fmt.Errorf("webhookstore: save cursor: %w", err)
	}
	return nil
}
