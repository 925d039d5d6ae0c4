package bus

import "context"

// A Pinger is a Broker that can tell whether it can reach its server. It is
// optional: readiness checks (package health) use it when a Broker has it.
//
// Ping returns nil when the broker is usable: its server answered within
// ctx, or it needs none. It returns ErrClosed after Close, and otherwise
// the error that keeps it from reaching its server. It does not wait for a
// server that is down beyond ctx.
type Pinger interface {
	Ping(ctx context.Context) error
}

var _ Pinger = (*Memory)(nil)

// Ping implements Pinger: a Memory broker needs no server, so it is always
// ready until it is closed.
func (b *Memory) Ping(ctx context.Context) error {
	b.init()
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return ctx.Err()
}
