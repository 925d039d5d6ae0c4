package webhookstore

import (
	"context"
	"fmt"
	"time"

	"github.com/pushpull/pushpull/webhook"
	"github.com/redis/go-redis/v9"
)

// Idempotency is a webhook.IdempotencyStore on Redis, shared by every
// instance of a webhook.Receiver behind a load balancer: an event id is
// claimed with SET NX PX, so of concurrent deliveries of one event on any
// number of instances exactly one runs the handler.
//
// Make it with NewIdempotency. Prefix must not be changed after the first
// call. An Idempotency is safe for concurrent use.
type Idempotency struct {
	// Prefix starts every key. Empty means DefaultPrefix.
	Prefix string

	client redis.UniversalClient
}

var _ webhook.IdempotencyStore = (*Idempotency)(nil)

// NewIdempotency returns an IdempotencyStore on the Redis of client.
func NewIdempotency(client redis.UniversalClient) *Idempotency {
	return &Idempotency{client: client}
}

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

func (s *Idempotency) key(k string) string { return prefix(s.Prefix) + "event:" + k }

// ClaimTimeout bounds a claim, which the end of its context does not
// interrupt (see Idempotency.Claim).
const ClaimTimeout = 30 * time.Second

// Claim implements webhook.IdempotencyStore. Once sent, a claim is not
// interrupted by the end of ctx (it is bounded by ClaimTimeout instead):
// a claim cut off after Redis ran it would have taken the key without the
// caller learning it, leaving the event "in progress" for the claim's
// whole ttl and refusing every redelivery meanwhile.
func (s *Idempotency) Claim(ctx context.Context, key string, ttl time.Duration) (webhook.ClaimState, error) {
	if s.client == nil {
		return 0, errNoClient
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("webhookstore: claim event: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ClaimTimeout)
	defer cancel()
	ms := max(ttl.Milliseconds(), 1)
	n, err := claimScript.Run(ctx, s.client, []string{s.key(key)}, claimPending, ms, claimDone).Int()
	if err != nil {
		return 0, fmt.Errorf("webhookstore: claim event: %w", err)
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
func (s *Idempotency) Complete(ctx context.Context, key string, ttl time.Duration) error {
	if s.client == nil {
		return errNoClient
	}
	if err := s.client.Set(ctx, s.key(key), claimDone, max(ttl, time.Millisecond)).Err(); err != nil {
		return fmt.Errorf("webhookstore: complete event: %w", err)
	}
	return nil
}

// Release implements webhook.IdempotencyStore.
func (s *Idempotency) Release(ctx context.Context, key string) error {
	if s.client == nil {
		return errNoClient
	}
	if err := releaseScript.Run(ctx, s.client, []string{s.key(key)}, claimPending).Err(); err != nil {
		return fmt.Errorf("webhookstore: release event: %w", err)
	}
	return nil
}
