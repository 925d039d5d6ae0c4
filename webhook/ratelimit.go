package webhook

import (
	"context"
	"math"
	"sync"
	"time"
)

// A tokenBucket paces an endpoint's attempts: it holds up to burst tokens,
// refilled at rate per second, and each attempt takes one, waiting for it
// when none is left. Waiters are served in the order they asked, each
// reserving its token at once, so a queue of waiters never starves one of
// them. (The root module keeps its dependencies to the minimum; this is
// the small part of golang.org/x/time/rate the Dispatcher needs.)
type tokenBucket struct {
	rate  float64 // tokens per second, > 0
	burst float64 // >= 1
	now   func() time.Time

	mu     sync.Mutex
	tokens float64 // may go negative: tokens reserved ahead of time
	last   time.Time
}

// newTokenBucket returns a bucket for rate per second and burst, full; nil
// when rate is not positive (no limit). A burst of 0 means
// max(1, ceil(rate)).
func newTokenBucket(rate float64, burst int, now func() time.Time) *tokenBucket {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if burst <= 0 {
		b = max(1, math.Ceil(rate))
	}
	return &tokenBucket{rate: rate, burst: b, now: now, tokens: b, last: now()}
}

// reserve takes a token and returns how long to wait before using it.
func (b *tokenBucket) reserve() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.burst, b.tokens+el.Seconds()*b.rate)
		b.last = now
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// unreserve gives back a token reserved by a waiter that gave up.
func (b *tokenBucket) unreserve() {
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+1)
	b.mu.Unlock()
}

// wait takes a token, waiting for it. On a done ctx it returns ctx's
// error and gives the token back.
func (b *tokenBucket) wait(ctx context.Context) error {
	if b == nil {
		return ctx.Err()
	}
	d := b.reserve()
	if d <= 0 {
		return nil
	}
	if err := sleep(ctx, d); err != nil {
		b.unreserve()
		return err
	}
	return nil
}
