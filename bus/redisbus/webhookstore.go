package redisbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushpull/pushpull/webhook"
	"github.com/redis/go-redis/v9"
)

// DefaultWebhookPrefix starts the keys of WebhookCursors and
// WebhookIdempotency when their Prefix is empty.
const DefaultWebhookPrefix = "pushpull:webhook:"

// WebhookCursors is a webhook.CursorStore on Redis: each endpoint's position
// is one string key, so a Dispatcher restarted on any instance resumes where
// the last one stopped. Positions are as durable as the Redis holding them
// (run it with AOF, appendfsync always, to survive a Redis restart; without
// persistence a restart loses the positions and the Dispatcher starts each
// endpoint afresh).
//
// Client is required. A WebhookCursors is safe for concurrent use.
type WebhookCursors struct {
	// Client is the Redis connection pool.
	Client redis.UniversalClient
	// Prefix starts every key. Zero means DefaultWebhookPrefix.
	Prefix string
}

var _ webhook.CursorStore = (*WebhookCursors)(nil)

func (s *WebhookCursors) key(k string) string {
	if s.Prefix == "" {
		return DefaultWebhookPrefix + "cursor:" + k
	}
	return s.Prefix + "cursor:" + k
}

// Load implements webhook.CursorStore.
func (s *WebhookCursors) Load(ctx context.Context, key string) (string, error) {
	v, err := s.Client.Get(ctx, s.key(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisbus: load webhook cursor: %w", err)
	}
	return v, nil
}

// Save implements webhook.CursorStore.
func (s *WebhookCursors) Save(ctx context.Context, key, cursor string) error {
	if err := s.Client.Set(ctx, s.key(key), cursor, 0).Err(); err != nil {
		return fmt.Errorf("redisbus: save webhook cursor: %w", err)
	}
	return nil
}

// WebhookIdempotency is a webhook.IdempotencyStore on Redis, shared by every
// instance of a webhook.Receiver behind a load balancer: an event id is
// claimed with SET NX PX, so of concurrent deliveries of one event on any
// number of instances exactly one runs the handler.
//
// Client is required. A WebhookIdempotency is safe for concurrent use.
type WebhookIdempotency struct {
	// Client is the Redis connection pool.
	Client redis.UniversalClient
	// Prefix starts every key. Zero means DefaultWebhookPrefix.
	Prefix string
}

var _ webhook.IdempotencyStore = (*WebhookIdempotency)(nil)

const (
	claimPending = "pending"
	claimDone    = "done"
)

// claimScript takes a free key, or reports its state: 0 claimed, 1 in
// progress, 2 done.
var claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[3] then return 2 end
return 1
`)

// releaseScript frees a key only while it is still a pending claim, so a
// handled event is never forgotten.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (s *WebhookIdempotency) key(k string) string {
	if s.Prefix == "" {
		return DefaultWebhookPrefix + "event:" + k
	}
	return s.Prefix + "event:" + k
}

// Claim implements webhook.IdempotencyStore.
func (s *WebhookIdempotency) Claim(ctx context.Context, key string, ttl time.Duration) (webhook.ClaimState, error) {
	ms := max(ttl.Milliseconds(), 1)
	n, err := claimScript.Run(ctx, s.Client, []string{s.key(key)}, claimPending, ms, claimDone).Int()
	if err != nil {
		return 0, fmt.Errorf("redisbus: claim webhook event: %w", err)
	}
	switch n {
	case 0:
		return webhook.Claimed, nil
	case 2:
		return webhook.Done, nil
	}
	return webhook.InProgress, nil
}

// Complete implements webhook.IdempotencyStore.
func (s *WebhookIdempotency) Complete(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.Client.Set(ctx, s.key(key), claimDone, max(ttl, time.Millisecond)).Err(); err != nil {
		return fmt.Errorf("redisbus: complete webhook event: %w", err)
	}
	return nil
}

// Release implements webhook.IdempotencyStore.
func (s *WebhookIdempotency) Release(ctx context.Context, key string) error {
	if err := releaseScript.Run(ctx, s.Client, []string{s.key(key)}, claimPending).Err(); err != nil {
		return fmt.Errorf("redisbus: release webhook event: %w", err)
	}
	return nil
}
