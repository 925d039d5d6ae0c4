package bus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
)

// sliceBroker is a broker written only against the exported engine, as a
// broker author outside this module would write one: its storage is a
// slice per topic, a Hub does the fan-out, History judges the cursors.
type sliceBroker struct {
	hub bus.Hub

	mu     sync.Mutex
	topics map[string]*sliceTopic
	closed bool
}

type sliceTopic struct {
	epoch string
	msgs  []bus.Message // retained, oldest first
	top   uint64
}

const sliceHistory = 2000

func newSliceBroker() *sliceBroker {
	b := &sliceBroker{topics: make(map[string]*sliceTopic)}
	b.hub.MaxLag = sliceHistory / 2
	b.hub.Read = b.readAfter
	return b
}

func (t *sliceTopic) history() bus.History {
	if t == nil {
		return bus.History{}
	}
	return bus.History{Epoch: t.epoch, Top: t.top, First: t.top - uint64(len(t.msgs)) + 1}
}

func (b *sliceBroker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

func (b *sliceBroker) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	if err := bus.CheckPublish(ctx, topic, &m); err != nil {
		return bus.Message{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.Message{}, bus.ErrClosed
	}
	t := b.topics[topic]
	if t == nil {
		t = &sliceTopic{epoch: bus.NewEpoch()}
		b.topics[topic] = t
	}
	t.top++
	p := bus.Position{Epoch: t.epoch, Offset: t.top}
	m.Topic, m.ID = topic, p.ID()
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	t.msgs = append(t.msgs, m)
	if len(t.msgs) > sliceHistory {
		t.msgs = t.msgs[len(t.msgs)-sliceHistory:]
	}
	b.hub.Deliver(topic, m, p) // under the lock: in offset order
	return m, nil
}

// after returns the retained messages of t after position start.
func (t *sliceTopic) after(start bus.Position, limit int) []bus.Message {
	if t == nil || start.Offset >= t.top {
		return nil
	}
	i := int(start.Offset + 1 - (t.top - uint64(len(t.msgs)) + 1))
	rest := t.msgs[i:]
	if limit > 0 && len(rest) > limit {
		rest = rest[:limit]
	}
	return rest
}

func (b *sliceBroker) readAfter(_ context.Context, dst []bus.Message, topic string, after bus.Position, limit int) ([]bus.Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[topic]
	start, err := t.history().Start(topic, after.ID(), after)
	if err != nil {
		return nil, err
	}
	return append(dst, t.after(start, limit)...), nil
}

func (b *sliceBroker) Read(ctx context.Context, topic, after string, limit int) ([]bus.Message, error) {
	p, err := bus.CheckArgs(ctx, topic, after, b.isClosed)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[topic]
	start, err := t.history().Start(topic, after, p)
	if err != nil {
		return nil, err
	}
	if after == "" && t != nil { // the newest messages
		n := uint64(len(t.msgs))
		if limit > 0 && uint64(limit) < n {
			n = uint64(limit)
		}
		start.Offset = t.top - n
	}
	return append([]bus.Message(nil), t.after(start, limit)...), nil
}

func (b *sliceBroker) Top(ctx context.Context, topic string) (string, error) {
	if _, err := bus.CheckArgs(ctx, topic, "", b.isClosed); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.topics[topic].history().TopID(), nil
}

func (b *sliceBroker) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	p, err := bus.CheckArgs(ctx, topic, after, b.isClosed)
	if err != nil {
		return nil, err
	}
	ht, err := b.hub.Acquire(topic, nil)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.topics[topic].history()
	from, err := h.Start(topic, after, p)
	if err != nil {
		b.mu.Unlock()
		b.hub.Release(ht)
		b.mu.Lock()
		return nil, err
	}
	return b.hub.Join(ctx, ht, from, h.TopPos())
}

func (b *sliceBroker) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.hub.Close()
	return nil
}

// A broker built from the exported engine alone passes the conformance
// suite.
func TestEngineForBrokerAuthors(t *testing.T) {
	bustest.Run(t, func(testing.TB) bus.Broker { return newSliceBroker() })
}
