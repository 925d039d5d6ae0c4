package redisbus

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pushpull/pushpull/bus"
)

// view is one consistent look at a topic: its epoch, top, oldest retained
// offset and, depending on the mode, some of its messages.
type view struct {
	known   bool // the topic has an epoch
	epoch   string
	top     uint64
	first   uint64 // oldest retained offset; top+1 when the history is empty
	expired bool   // the cursor of mode "a" cannot be served whole
	msgs    []bus.Message
}

// history returns what the topic retains; the zero History for an unknown
// topic.
func (v *view) history() bus.History {
	return bus.History{Epoch: v.epoch, Top: v.top, First: v.first}
}

// look runs readScript. mode is "", "n", "o" or "a" (after). With touch, an
// existing topic's meta TTL is refreshed.
func (b *Broker) look(ctx context.Context, topic string, touch bool, mode string, after bus.Position, limit int) (*view, error) {
	if err := b.begin(); err != nil {
		return nil, err
	}
	defer b.calls.Done()
	c := "0"
	if touch {
		c = "1"
	}
	start := b.report().Start()
	res, err := readScript.Run(ctx, b.Client,
		[]string{b.metaKey(topic), b.streamKey(topic)},
		c, ms(b.metaTTL()), mode, after.Epoch, after.Offset, max(limit, 0),
	).Slice()
	b.report().RoundTrip("read", start, err)
	if err != nil {
		if b.isClosed() {
			return nil, bus.ErrClosed
		}
		b.failed(err)
		return nil, fmt.Errorf("redisbus: read %q: %w", topic, err)
	}
	v := &view{}
	if len(res) == 0 {
		return v, nil
	}
	if len(res) < 4 {
		return nil, fmt.Errorf("redisbus: read %q: unexpected reply", topic)
	}
	v.known = true
	v.epoch, _ = res[0].(string)
	top, _ := res[1].(int64)
	first, _ := res[2].(int64)
	v.top, v.first = uint64(top), uint64(first)
	v.expired = res[3] == "expired"
	for _, raw := range res[4:] {
		m, err := b.entry(topic, v.epoch, raw)
		if err != nil {
			return nil, fmt.Errorf("redisbus: read %q: %w", topic, err)
		}
		v.msgs = append(v.msgs, m)
	}
	if mode == "n" {
		slices.Reverse(v.msgs)
	}
	return v, nil
}

// errCorrupt reports a stream entry that is not of the broker's form.
var errCorrupt = fmt.Errorf("%w: corrupt stream entry", bus.ErrInvalidMessage)

// entry turns a stream entry {"<offset>-0", {"d", record}} into a message.
func (b *Broker) entry(topic, epoch string, raw any) (bus.Message, error) {
	e, ok := raw.([]any)
	if !ok || len(e) != 2 {
		return bus.Message{}, errCorrupt
	}
	id, _ := e[0].(string)
	fields, _ := e[1].([]any)
	num, _, _ := strings.Cut(id, "-")
	off, err := strconv.ParseUint(num, 10, 64)
	if err != nil || len(fields) != 2 {
		return bus.Message{}, errCorrupt
	}
	rec, _ := fields[1].(string)
	m := bus.Message{Topic: topic, ID: bus.Position{Epoch: epoch, Offset: off}.ID()}
	if err := bus.DecodeRecord([]byte(rec), &m); err != nil {
		return bus.Message{}, err
	}
	return m, nil
}

// check validates the common arguments of Read, Subscribe and Top.
func (b *Broker) check(ctx context.Context, topic, after string) (bus.Position, error) {
	b.init()
	return bus.CheckArgs(ctx, topic, after, b.isClosed)
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
		v, err = b.look(ctx, topic, false, "n", p, limit)
	case bus.Oldest:
		v, err = b.look(ctx, topic, false, "o", p, limit)
	default:
		v, err = b.look(ctx, topic, false, "a", p, limit)
		if err == nil && (v.expired || !v.known) {
			_, err = v.history().Start(topic, after, p)
		}
	}
	if err != nil {
		return nil, b.expired("read", topic, err)
	}
	return v.msgs, nil
}

// readAfter feeds lagging subscribers.
func (b *Broker) readAfter(ctx context.Context, dst []bus.Message, topic string, after bus.Position, limit int) ([]bus.Message, error) {
	v, err := b.look(ctx, topic, false, "a", after, limit)
	if err != nil {
		return nil, err
	}
	if v.expired || !v.known {
		// An unknown topic (never published, or its keys expired or were
		// deleted) serves Origin only.
		if _, err := v.history().Start(topic, after.ID(), after); err != nil {
			return nil, err
		}
	}
	return append(dst, v.msgs...), nil
}

// Top implements bus.Reader. It creates nothing: the top of an unknown
// topic is bus.Origin.
func (b *Broker) Top(ctx context.Context, topic string) (string, error) {
	if _, err := b.check(ctx, topic, ""); err != nil {
		return "", err
	}
	v, err := b.look(ctx, topic, false, "", bus.Position{}, 0)
	if err != nil {
		return "", err
	}
	return v.history().TopID(), nil
}

// Subscribe implements bus.Subscriber. A subscription to an unknown topic
// starts at bus.Origin and creates nothing in Redis.
func (b *Broker) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	p, err := b.check(ctx, topic, after)
	if err != nil {
		return nil, err
	}
	if _, err := b.sharded(ctx); err != nil {
		return nil, err
	}
	t, err := b.hub.Acquire(topic, func(topic string) any { return b.up.hold(topic) })
	if err != nil {
		return nil, err
	}
	c := t.Upstream().(*upChan)
	if err := b.up.ready(ctx, c); err != nil {
		b.hub.Release(t)
		return nil, err
	}
	// Only now, with the notifications flowing, is the position read: a
	// message published after it is either notified or read from the
	// history by the subscriber.
	v, err := b.look(ctx, topic, true, "", p, 0)
	if err != nil {
		b.hub.Release(t)
		return nil, err
	}
	h := v.history()
	from, err := h.Start(topic, after, p)
	if err != nil {
		b.hub.Release(t)
		return nil, b.expired("subscribe", topic, err)
	}
	return b.hub.Join(ctx, t, from, bus.Position{Epoch: h.Epoch, Offset: h.Top})
}
