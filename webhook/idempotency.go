package webhook

import (
	"context"
	"sync"
	"time"
)

// A ClaimState is the answer of IdempotencyStore.Claim.
type ClaimState int

const (
	// Claimed means the caller now owns the key and must handle the event,
	// then Complete or Release the key.
	Claimed ClaimState = iota
	// InProgress means another request owns the key and is handling the
	// event right now; its outcome is not known yet.
	InProgress
	// Done means the event was handled already.
	Done
)

// An IdempotencyStore remembers which events a Receiver has taken or
// handled, by their idempotency keys (see Receiver), so that a duplicate
// delivery never runs the handler twice. Share one store (for example
// Redis SET NX PX) between the instances of a receiver behind a load
// balancer.
//
// Implementations must be safe for concurrent use, and Claim must be atomic:
// of concurrent claims of a free key, exactly one gets Claimed.
type IdempotencyStore interface {
	// Claim takes key for ttl if it is free (never claimed, released, or
	// expired) and returns Claimed; otherwise it returns the key's state.
	Claim(ctx context.Context, key string, ttl time.Duration) (ClaimState, error)
	// Complete marks a claimed key as handled for ttl.
	Complete(ctx context.Context, key string, ttl time.Duration) error
	// Release frees a claimed key so the event can be handled again.
	Release(ctx context.Context, key string) error
}

// MemoryIdempotency is an IdempotencyStore in memory, for a single receiver
// process. Expired keys are swept as new ones are claimed. The zero value is
// ready to use; it is safe for concurrent use.
type MemoryIdempotency struct {
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time

	mu     sync.Mutex
	m      map[string]claim
	claims int
}

type claim struct {
	done    bool
	expires time.Time
}

var _ IdempotencyStore = (*MemoryIdempotency)(nil)

func (s *MemoryIdempotency) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

// Claim implements IdempotencyStore.
func (s *MemoryIdempotency) Claim(_ context.Context, key string, ttl time.Duration) (ClaimState, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]claim)
	}
	if s.claims++; s.claims%1024 == 0 {
		for k, c := range s.m {
			if !now.Before(c.expires) {
				delete(s.m, k)
			}
		}
	}
	if c, ok := s.m[key]; ok && now.Before(c.expires) {
		if c.done {
			return Done, nil
		}
		return InProgress, nil
	}
	s.m[key] = claim{expires: now.Add(ttl)}
	return Claimed, nil
}

// Complete implements IdempotencyStore.
func (s *MemoryIdempotency) Complete(_ context.Context, key string, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]claim)
	}
	s.m[key] = claim{done: true, expires: now.Add(ttl)}
	return nil
}

// Release implements IdempotencyStore.
func (s *MemoryIdempotency) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// Len returns how many keys are held, expired ones not yet swept included.
func (s *MemoryIdempotency) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
