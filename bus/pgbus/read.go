package pgbus

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// view is one consistent look at a topic, read in one statement: its
// epoch, top, oldest retained offset and, depending on the query, some of
// its messages.
type view struct {
	known bool // the topic has a row
	hist  bus.History
	msgs  []bus.Message
}

// look runs one of the view queries of names on topic.
func (b *Broker) look(ctx context.Context, topic, query string, args ...any) (_ *view, err error) {
	if err := b.begin(); err != nil {
		return nil, err
	}
	defer b.calls.Done()
	if b.Metrics != nil {
		start := time.Now()
		defer func() { b.roundTrip("read", start, err) }()
	}
	rows, err := b.Pool.Query(ctx, query, append([]any{topic}, args...)...)
	if err != nil {
		return nil, b.wrap("read", topic, err)
	}
	defer rows.Close()
	v := &view{}
	for rows.Next() {
		var (
			top, first int64
			off        *int64
			rec        []byte
		)
		if err := rows.Scan(&v.hist.Epoch, &top, &first, &off, &rec); err != nil {
			return nil, b.wrap("read", topic, err)
		}
		v.known = true
		v.hist.Top, v.hist.First = uint64(top), uint64(first)
		if off == nil {
			continue
		}
		m := bus.Message{Topic: topic, ID: bus.Position{Epoch: v.hist.Epoch, Offset: uint64(*off)}.ID()}
		if err := bus.DecodeRecord(rec, &m); err != nil {
			return nil, b.wrap("read", topic, err)
		}
		v.msgs = append(v.msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, b.wrap("read", topic, err)
	}
	return v, nil
}

// limitArg is limit as a LIMIT parameter: NULL (no limit) when limit <= 0.
func limitArg(limit int) any {
	if limit <= 0 {
		return nil
	}
	return int64(limit)
}

// lookAfter reads the messages after p, and whether the history serves p.
func (b *Broker) lookAfter(ctx context.Context, topic string, p bus.Position, limit int) (*view, error) {
	return b.look(ctx, topic, b.names.after, int64(p.Offset), p.Epoch, limitArg(limit))
}

// Read implements bus.Reader. It creates nothing.
func (b *Broker) Read(ctx context.Context, topic, after string, limit int) ([]bus.Message, error) {
	p, err := b.check(ctx, topic, after)
	if err != nil {
		return nil, err
	}
	var v *view
	switch after {
	case "":
		v, err = b.look(ctx, topic, b.names.newest, limitArg(limit))
		if err == nil {
			slices.Reverse(v.msgs)
		}
	case bus.Oldest:
		v, err = b.look(ctx, topic, b.names.oldest, limitArg(limit))
	default:
		v, err = b.lookAfter(ctx, topic, p, limit)
		if err == nil {
			_, err = v.hist.Start(topic, after, p)
			err = b.expired("read", topic, err)
		}
	}
	if err != nil {
		return nil, err
	}
	return v.msgs, nil
}

// readAfter feeds lagging subscribers.
func (b *Broker) readAfter(ctx context.Context, dst []bus.Message, topic string, after bus.Position, limit int) ([]bus.Message, error) {
	v, err := b.lookAfter(ctx, topic, after, limit)
	if err != nil {
		return nil, err
	}
	// A topic without a row (never published, or removed after MetaTTL)
	// serves Origin only.
	if _, err := v.hist.Start(topic, after.ID(), after); err != nil {
		return nil, err
	}
	return append(dst, v.msgs...), nil
}

// check validates the common arguments of Read, Subscribe and Top.
func (b *Broker) check(ctx context.Context, topic, after string) (bus.Position, error) {
	b.init()
	p, err := bus.CheckArgs(ctx, topic, after, b.isClosed)
	if err == nil && b.nameErr != nil {
		err = b.nameErr
	}
	return p, err
}

// Top implements bus.Reader. It creates nothing: the top of an unknown
// topic is bus.Origin.
func (b *Broker) Top(ctx context.Context, topic string) (string, error) {
	if _, err := b.check(ctx, topic, ""); err != nil {
		return "", err
	}
	v, err := b.look(ctx, topic, b.names.top)
	if err != nil {
		return "", err
	}
	return v.hist.TopID(), nil
}

// Subscribe implements bus.Subscriber. A subscription to an unknown topic
// starts at bus.Origin and creates nothing in the database.
func (b *Broker) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	p, err := b.check(ctx, topic, after)
	if err != nil {
		return nil, err
	}
	if err := b.begin(); err != nil {
		return nil, err
	}
	defer b.calls.Done()
	t, err := b.hub.Acquire(topic, nil)
	if err != nil {
		return nil, err
	}
	if err := b.ln.ready(ctx); err != nil {
		b.hub.Release(t)
		if errors.Is(err, bus.ErrClosed) || b.isClosed() {
			return nil, bus.ErrClosed
		}
		return nil, err
	}
	// Only now, with the listener listening, is the position read: a
	// message committed after it is either notified or found by the
	// subscriber in the history.
	v, err := b.look(ctx, topic, b.names.top)
	if err != nil {
		b.hub.Release(t)
		return nil, err
	}
	from, err := v.hist.Start(topic, after, p)
	if err != nil {
		b.hub.Release(t)
		return nil, b.expired("subscribe", topic, err)
	}
	return b.hub.Join(ctx, t, from, bus.Position{Epoch: v.hist.Epoch, Offset: v.hist.Top})
}
