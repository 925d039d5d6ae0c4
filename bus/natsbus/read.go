package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushpull/pushpull/bus"
)

// view is a look at a topic: its epoch, top and oldest retained offset,
// with the stream sequences of its first and last messages.
type view struct {
	known    bool
	epoch    string
	top      uint64
	first    uint64 // oldest retained offset; top+1 when the history is empty
	firstSeq uint64
	lastSeq  uint64
}

// history returns what the topic retains; the zero History for a topic
// with no message in the stream.
func (v *view) history() bus.History {
	return bus.History{Epoch: v.epoch, Top: v.top, First: v.first}
}

// look reads the topic's view. It creates nothing: a topic with no message
// in the stream has the zero view, whose top is bus.Origin.
func (b *Broker) look(ctx context.Context, topic string) (*view, error) {
	ctx, cancel := b.request(ctx)
	defer cancel()
	s, err := b.ensureStream(ctx)
	if err != nil {
		return nil, err
	}
	subject := b.subject(topic)
	start := b.clock()
	last, err := s.GetLastMsgForSubject(ctx, subject)
	b.roundTrip("get_last", start, err)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return &view{}, nil
	}
	if err != nil {
		return nil, b.fail(topic, err)
	}
	lp, err := position(last)
	if err != nil {
		return nil, err
	}
	v := &view{known: true, epoch: lp.Epoch, top: lp.Offset, lastSeq: last.Sequence, first: lp.Offset, firstSeq: last.Sequence}
	if lp.Offset > 0 {
		start := b.clock()
		head, err := s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
		b.roundTrip("get", start, err)
		if err != nil {
			return nil, b.fail(topic, err)
		}
		hp, err := position(head)
		if err != nil {
			return nil, err
		}
		if hp.Epoch == lp.Epoch {
			v.first, v.firstSeq = hp.Offset, head.Sequence
		}
	}
	if v.first == 0 {
		// An offset-0 marker, which earlier versions stored to fix the
		// epoch of a topic with no message: no message yet.
		v.first = 1
		v.firstSeq++
	}
	return v, nil
}

func (b *Broker) fail(topic string, err error) error {
	if b.isClosed() {
		return bus.ErrClosed
	}
	return fmt.Errorf("natsbus: read %q: %w", topic, err)
}

// seqOf finds the stream sequence of the topic's message at offset off
// (first <= off <= top) by bisection. Offsets grow with sequences, and
// consecutive offsets are at least one sequence apart, which bounds the
// search: a stream holding one topic needs no lookup at all.
func (b *Broker) seqOf(ctx context.Context, s jetstream.Stream, subject string, v *view, off uint64) (uint64, error) {
	lo := v.firstSeq + (off - v.first)
	hi := v.lastSeq - (v.top - off)
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := s.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			return 0, err
		}
		p, err := position(m)
		if err != nil {
			return 0, err
		}
		if p.Offset >= off {
			hi = mid
		} else {
			lo = max(mid+1, m.Sequence+1)
		}
	}
	return lo, nil
}

// A read of more than bulkMin messages goes through a short-lived consumer
// (three round trips and a stream of messages) instead of one get per
// message; bulkBatch bounds each of its pulls. The consumer reads its
// server's copy of the stream, which on a replica may lag: when it returns
// fewer than bulkMin messages, they are read one by one from the leader.
const (
	bulkMin   = 16
	bulkBatch = 1024
)

// stored is a message as read from the stream.
type stored struct {
	seq  uint64
	hdr  nats.Header
	data []byte
}

// after returns up to limit (<= 0: all) messages following offset from in
// the view's epoch.
func (b *Broker) after(ctx context.Context, topic string, v *view, from uint64, limit int) ([]bus.Message, error) {
	ctx, cancel := b.request(ctx)
	defer cancel()
	if from >= v.top {
		return nil, nil
	}
	s, err := b.ensureStream(ctx)
	if err != nil {
		return nil, err
	}
	subject := b.subject(topic)
	seq, err := b.seqOf(ctx, s, subject, v, from+1)
	if err != nil {
		return nil, b.fail(topic, err)
	}
	n := v.top - from
	if limit > 0 && uint64(limit) < n {
		n = uint64(limit)
	}
	var raw []stored
	if n > bulkMin {
		// Half the time, so the leader can still be asked when a
		// clustered server never answers for the consumer.
		fctx, fcancel := context.WithTimeout(ctx, b.requestTimeout()/2)
		start := b.clock()
		raw, err = b.fetch(fctx, s, subject, seq, int(n))
		b.roundTrip("fetch", start, err)
		fcancel()
		if err != nil && ctx.Err() == nil {
			raw, err = nil, nil
		}
	}
	if err == nil && len(raw) < min(int(n), bulkMin) {
		// The consumer of fetch may run on a replica behind the leader
		// and stop short, or not be created: the rest comes from the
		// leader.
		next := seq
		if len(raw) > 0 {
			next = raw[len(raw)-1].seq + 1
		}
		var more []stored
		more, err = b.getEach(ctx, s, subject, next, min(int(n), bulkMin)-len(raw))
		raw = append(raw, more...)
	}
	if err != nil {
		return nil, b.fail(topic, err)
	}
	out := make([]bus.Message, 0, len(raw))
	for i, r := range raw {
		p, err := positionOf(r.hdr)
		if err != nil || p.Epoch != v.epoch || p.Offset != from+1+uint64(i) {
			break // trimmed or restarted meanwhile
		}
		m := bus.Message{Topic: topic, ID: p.ID()}
		if err := bus.DecodeRecord(r.data, &m); err != nil {
			return nil, fmt.Errorf("natsbus: read %q: %w", topic, err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, v.history().Expired(topic, bus.Position{Epoch: v.epoch, Offset: from}.ID())
	}
	return out, nil
}

// getEach reads n messages of subject from seq on, one direct get each.
func (b *Broker) getEach(ctx context.Context, s jetstream.Stream, subject string, seq uint64, n int) ([]stored, error) {
	out := make([]stored, 0, n)
	for len(out) < n {
		start := b.clock()
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		b.roundTrip("get", start, err)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, stored{seq: m.Sequence, hdr: m.Header, data: m.Data})
		seq = m.Sequence + 1
	}
	return out, nil
}

// fetch reads n messages of subject from seq on through an ephemeral
// consumer that it deletes afterwards.
func (b *Broker) fetch(ctx context.Context, s jetstream.Stream, subject string, seq uint64, n int) ([]stored, error) {
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       seq,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // the server's cleanup if Delete fails
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	out := make([]stored, 0, n)
	for len(out) < n {
		batch, err := cons.FetchNoWait(min(n-len(out), bulkBatch))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			out = append(out, stored{seq: md.Sequence.Stream, hdr: m.Headers(), data: m.Data()})
			got++
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if got == 0 {
			break
		}
	}
	return out, nil
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
	v, err := b.look(ctx, topic)
	if err != nil {
		return nil, err
	}
	start, err := v.history().Start(topic, after, p)
	if err != nil || !v.known {
		return nil, b.expired("read", topic, err)
	}
	from := start.Offset
	if after == "" { // the newest limit messages
		from = v.first - 1
		if limit > 0 && v.top-from > uint64(limit) {
			from = v.top - uint64(limit)
		}
	}
	return b.after(ctx, topic, v, from, limit)
}

// readAfter feeds lagging subscribers.
func (b *Broker) readAfter(ctx context.Context, dst []bus.Message, topic string, after bus.Position, limit int) ([]bus.Message, error) {
	v, err := b.look(ctx, topic)
	if err != nil {
		return nil, err
	}
	// A topic whose messages all left the stream is unknown again: it
	// serves Origin only.
	start, err := v.history().Start(topic, after.ID(), after)
	if err != nil || !v.known {
		return dst, err
	}
	msgs, err := b.after(ctx, topic, v, start.Offset, limit)
	return append(dst, msgs...), err
}

// Top implements bus.Reader. It creates nothing: the top of a topic with no
// message is bus.Origin.
func (b *Broker) Top(ctx context.Context, topic string) (string, error) {
	if _, err := b.check(ctx, topic, ""); err != nil {
		return "", err
	}
	v, err := b.look(ctx, topic)
	if err != nil {
		return "", err
	}
	return v.history().TopID(), nil
}

// Subscribe implements bus.Subscriber. A subscription to a topic with no
// message starts at bus.Origin and stores nothing.
func (b *Broker) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	p, err := b.check(ctx, topic, after)
	if err != nil {
		return nil, err
	}
	if _, err := b.ensureStream(ctx); err != nil {
		return nil, err
	}
	t, err := b.hub.Acquire(topic, func(topic string) any { return b.up.hold(topic) })
	if err != nil {
		return nil, err
	}
	if err := b.up.ready(ctx, t.Upstream().(*upSub)); err != nil {
		b.hub.Release(t)
		return nil, err
	}
	// Only now, with the announcements flowing, is the position read: a
	// message stored after it is either announced or read from the
	// history by the subscriber.
	v, err := b.look(ctx, topic)
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
