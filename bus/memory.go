package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Memory broker's fields.
const (
	DefaultHistorySize  = 1000
	DefaultHistoryTTL   = time.Hour
	DefaultBuffer       = 16
	DefaultMetaTTL      = 24 * time.Hour
	DefaultStallTimeout = time.Second
)

// Memory is the in-process Broker: a bounded history per topic held in a
// ring buffer, and fan-out to the subscribers of this process. It needs no
// other service, and is the default for tests, single-instance services and
// development.
//
// The zero value is ready to use; NewMemory returns one too. Fields must not
// be changed after the first call of a method. A Memory is safe for
// concurrent use and starts no goroutine until a subscriber falls behind or
// replays history; every goroutine it starts ends before Close returns.
//
// Each Memory gives the topics it creates a fresh random epoch, so IDs handed
// out by a previous process (or a reclaimed topic) are answered with
// ErrCursorExpired, never with wrong messages.
//
// Memory runs on a Hub: Publish stores a message in the topic's ring and
// hands it to the Hub, which delivers it to the topic's subscribers without
// waiting for any. Each subscription has a channel of Buffer messages; a
// subscriber whose channel is full reads the topic's history on a goroutine
// of its own and switches back to live delivery once it has caught up, so a
// burst larger than the buffer costs no disconnect. A subscriber that stops
// reading (its channel stays full and it takes nothing for StallTimeout
// while more than MaxLag messages are published) is cut with
// ErrSlowConsumer while its position is still in the history, so it can
// resume; one whose position leaves the history, because it reads more
// slowly than the topic is written for too long, or because more than
// HistorySize messages arrived within StallTimeout after it stopped, ends
// with ErrCursorExpired.
//
// A topic is created by its first Publish and kept for MetaTTL once idle.
// Reading a topic, asking for its top or subscribing to it creates nothing
// that outlives the call or the subscription: the top of a topic that has
// no message is Origin, a cursor that stays valid once the topic appears.
// So requests naming topics that do not exist leave no state behind; only
// publishers create topics.
type Memory struct {
	// HistorySize is how many messages each topic retains. Zero means
	// DefaultHistorySize.
	HistorySize int
	// HistoryTTL is how long a message is retained. Zero means
	// DefaultHistoryTTL; a negative value keeps messages until HistorySize
	// pushes them out.
	HistoryTTL time.Duration
	// Buffer is the capacity of each subscription's channel. Zero means
	// DefaultBuffer.
	Buffer int
	// MaxLag is how far, in messages, a subscriber that stopped reading may
	// fall behind before it is cut with ErrSlowConsumer (once StallTimeout
	// has passed too). Zero means HistorySize/2, which leaves the
	// subscriber's position in the history so it can resume.
	MaxLag int
	// StallTimeout is how long a subscriber whose channel is full may take
	// nothing before it counts as stopped. It keeps a consumer that is
	// merely descheduled for a moment from being cut. Zero means
	// DefaultStallTimeout.
	StallTimeout time.Duration
	// MetaTTL is how long a topic with no subscribers and no retained
	// message keeps its epoch and top, so that "nothing new after x" stays
	// answerable after the messages expired: the topic is reclaimed once
	// it has been unused for HistoryTTL plus MetaTTL, and a later use
	// starts a new epoch. Zero means DefaultMetaTTL.
	MetaTTL time.Duration
	// Metrics, when set, receives the broker's events, with Transport
	// "memory": BusPublished for every Publish (with its latency),
	// BusCursorExpired for every expired cursor Subscribe or Read
	// refuses, and the events of its Hub (see Hub). Nil reports nothing
	// and costs nothing.
	Metrics metrics.Recorder

	initOnce  sync.Once
	base      string    // NewEpoch: fixed-length random prefix of this broker's epochs
	start     time.Time // origin of the monotonic clock of entries
	hub       Hub
	mu        sync.RWMutex
	gen       uint64 // topics created so far; part of each epoch
	topics    map[string]*topic
	closed    bool
	lastSweep atomic.Int64
}

var _ Broker = (*Memory)(nil)

// NewMemory returns a Memory broker with default settings. It is the same as
// &Memory{}.
func NewMemory() *Memory { return &Memory{} }

// A topic is what Memory stores of a topic: its epoch, its history and its
// top. The Hub holds its subscribers.
type topic struct {
	name   string
	epoch  string
	mu     sync.Mutex
	ring   ring
	top    uint64
	active int64 // last use, on the broker's clock
	dead   bool  // reclaimed or closed: look the topic up again
}

func (b *Memory) init() {
	b.initOnce.Do(func() {
		b.base = NewEpoch()
		b.start = time.Now()
		b.topics = make(map[string]*topic)
		b.hub = Hub{
			Buffer:       b.buffer(),
			MaxLag:       int(b.maxLag()),
			StallTimeout: b.StallTimeout,
			Recent:       -1, // the ring is as close
			Read:         b.readAfter,
			Metrics:      b.Metrics,
			Name:         memoryName,
		}
	})
}

func (b *Memory) now() int64 { return int64(time.Since(b.start)) }

func (b *Memory) historySize() int {
	if b.HistorySize > 0 {
		return b.HistorySize
	}
	return DefaultHistorySize
}

func (b *Memory) historyTTL() time.Duration {
	if b.HistoryTTL == 0 {
		return DefaultHistoryTTL
	}
	return b.HistoryTTL
}

func (b *Memory) buffer() int {
	if b.Buffer > 0 {
		return b.Buffer
	}
	return DefaultBuffer
}

func (b *Memory) maxLag() uint64 {
	if b.MaxLag > 0 {
		return uint64(b.MaxLag)
	}
	return uint64(max(b.historySize()/2, 1))
}

func (b *Memory) metaTTL() time.Duration {
	if b.MetaTTL > 0 {
		return b.MetaTTL
	}
	return DefaultMetaTTL
}

// idleLimit is how long an unused topic is kept: its messages expire within
// HistoryTTL of its last use, and its epoch and top are kept MetaTTL longer.
func (b *Memory) idleLimit() int64 {
	d := b.metaTTL()
	if ttl := b.historyTTL(); ttl > 0 {
		d += ttl
	}
	return int64(d)
}

// sweepEvery is how often topics are checked for expired messages and
// reclamation, piggybacking on calls (Memory runs no background goroutine).
func (b *Memory) sweepEvery() int64 {
	d := b.metaTTL()
	if ttl := b.historyTTL(); ttl > 0 && ttl < d {
		d = ttl
	}
	d /= 4
	d = min(max(d, time.Millisecond), time.Minute)
	return int64(d)
}

// lookup returns the live topic called name, creating it when create is set.
// It returns nil when the topic does not exist and create is false.
func (b *Memory) lookup(name string, create bool) (*topic, error) {
	b.init()
	now := b.now()
	if now-b.lastSweep.Load() < b.sweepEvery() {
		// The common case: no sweep due, the topic exists.
		b.mu.RLock()
		t, closed := b.topics[name], b.closed
		b.mu.RUnlock()
		if closed {
			return nil, ErrClosed
		}
		if t != nil || !create {
			return t, nil
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if now-b.lastSweep.Load() >= b.sweepEvery() {
		b.lastSweep.Store(now)
		b.sweepLocked(now)
	}
	t := b.topics[name]
	if t == nil && create {
		b.gen++
		t = &topic{name: name, epoch: b.base + strconv.FormatUint(b.gen, 36), active: now}
		b.topics[name] = t
	}
	return t, nil
}

// sweepLocked drops expired messages everywhere and reclaims topics that
// have had no subscriber and no use for HistoryTTL plus MetaTTL. b.mu is
// held.
func (b *Memory) sweepLocked(now int64) {
	idle := b.idleLimit()
	for name, t := range b.topics {
		t.mu.Lock()
		b.expireLocked(t, now)
		if b.hub.Subscribed(name) {
			t.active = now // in use while subscribed
		} else if t.ring.n == 0 && now-t.active >= idle {
			t.dead = true
			delete(b.topics, name)
		}
		t.mu.Unlock()
	}
}

// Topics returns the number of topics the broker holds, including those
// kept only for their epoch and top. It is meant for metrics and tests.
func (b *Memory) Topics() int {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.topics)
}

// expireLocked drops messages older than HistoryTTL. t.mu is held.
func (b *Memory) expireLocked(t *topic, now int64) {
	if ttl := b.historyTTL(); ttl > 0 && t.ring.n > 0 {
		t.ring.expire(now - int64(ttl))
	}
}

// locked looks up (or creates) a topic and returns it locked.
func (b *Memory) locked(name string, create bool) (*topic, error) {
	for {
		t, err := b.lookup(name, create)
		if err != nil || t == nil {
			return nil, err
		}
		t.mu.Lock()
		if !t.dead {
			return t, nil
		}
		t.mu.Unlock()
	}
}

// memoryName is Memory's name in the events it reports.
const memoryName = "memory"

// Publish implements Publisher.
func (b *Memory) Publish(ctx context.Context, topicName string, m Message) (Message, error) {
	if b.Metrics == nil {
		return b.publish(ctx, topicName, m)
	}
	start, size := time.Now(), len(m.Data)
	m, err := b.publish(ctx, topicName, m)
	outcome := metrics.OutcomeOK
	if err != nil {
		outcome = metrics.OutcomeError
	}
	b.Metrics.Record(metrics.Event{Kind: metrics.BusPublished, Transport: memoryName, Topic: topicName,
		Outcome: outcome, Bytes: int64(size), Duration: time.Since(start)})
	return m, err
}

// expired reports err to Metrics when it is an expired cursor that op
// ("subscribe", "read") refused, and returns it.
func (b *Memory) expired(op, topicName string, err error) error {
	if b.Metrics != nil && errors.Is(err, ErrCursorExpired) {
		b.Metrics.Record(metrics.Event{Kind: metrics.BusCursorExpired, Transport: memoryName, Topic: topicName, Op: op})
	}
	return err
}

func (b *Memory) publish(ctx context.Context, topicName string, m Message) (Message, error) {
	if err := CheckPublish(ctx, topicName, &m); err != nil {
		return Message{}, err
	}
	t, err := b.locked(topicName, true)
	if err != nil {
		return Message{}, err
	}
	defer t.mu.Unlock()
	now := b.now()
	t.active = now
	b.expireLocked(t, now)
	t.top++
	p := Position{Epoch: t.epoch, Offset: t.top}
	m.Topic = topicName
	m.ID = p.ID()
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	t.ring.push(entry{m: m, at: now}, b.historySize())
	// Delivered under the topic's lock, so subscribers see the messages of
	// a topic in the order of their offsets.
	b.hub.Deliver(topicName, m, p)
	return m, nil
}

// history returns what the locked topic t retains.
func (t *topic) history() History {
	return History{Epoch: t.epoch, Top: t.top, First: t.ring.oldest(t.top)}
}

// Subscribe implements Subscriber. It creates no topic: a subscription to
// a topic that has no message starts at Origin.
func (b *Memory) Subscribe(ctx context.Context, topicName, after string) (Subscription, error) {
	p, err := CheckArgs(ctx, topicName, after, nil)
	if err != nil {
		return nil, err
	}
	b.init()
	ht, err := b.hub.Acquire(topicName, nil)
	if err != nil {
		return nil, err
	}
	// The topic stays locked until the subscriber joined, so that no
	// message is published between reading its position and joining.
	t, err := b.locked(topicName, false)
	if err != nil {
		b.hub.Release(ht)
		return nil, err
	}
	var h History
	if t != nil {
		now := b.now()
		t.active = now
		b.expireLocked(t, now)
		h = t.history()
	}
	from, err := h.Start(topicName, after, p)
	if err != nil {
		if t != nil {
			t.mu.Unlock()
		}
		b.hub.Release(ht)
		return nil, b.expired("subscribe", topicName, err)
	}
	sub, err := b.hub.Join(ctx, ht, from, Position{Epoch: h.Epoch, Offset: h.Top})
	if t != nil {
		t.mu.Unlock()
	}
	return sub, err
}

// readAfter is the Hub's Read: the history of a topic after a position.
func (b *Memory) readAfter(_ context.Context, dst []Message, topicName string, after Position, limit int) ([]Message, error) {
	t, err := b.locked(topicName, false)
	if err != nil {
		return nil, err
	}
	var h History
	if t != nil {
		defer t.mu.Unlock()
		b.expireLocked(t, b.now())
		h = t.history()
	}
	// The Hub reads after positions, never after "" or Oldest, so this is
	// History.Start without formatting the ID when nothing is wrong.
	if !h.Serves(after) {
		return nil, h.Expired(topicName, after.ID())
	}
	if t == nil {
		return nil, nil
	}
	msgs, _ := t.ring.appendAfter(dst, after.Offset, t.top, limit)
	return msgs, nil
}

// Read implements Reader.
func (b *Memory) Read(ctx context.Context, topicName, after string, limit int) ([]Message, error) {
	p, err := CheckArgs(ctx, topicName, after, nil)
	if err != nil {
		return nil, err
	}
	t, err := b.locked(topicName, false)
	if err != nil {
		return nil, err
	}
	if t == nil {
		// An unknown topic has nothing to read, and reading creates nothing.
		_, err := History{}.Start(topicName, after, p)
		return nil, b.expired("read", topicName, err)
	}
	defer t.mu.Unlock()
	now := b.now()
	b.expireLocked(t, now)
	var from uint64
	if after == "" {
		n := uint64(t.ring.n)
		if limit > 0 && uint64(limit) < n {
			n = uint64(limit)
		}
		from = t.top - n
	} else {
		start, err := t.history().Start(t.name, after, p)
		if err != nil {
			return nil, b.expired("read", topicName, err)
		}
		from = start.Offset
	}
	n := int(t.top - from)
	if limit > 0 && limit < n {
		n = limit
	}
	if n == 0 {
		return nil, nil
	}
	msgs, _ := t.ring.appendAfter(make([]Message, 0, n), from, t.top, n)
	return msgs, nil
}

// Top implements Reader. It creates no topic: an unknown topic's top is
// Origin.
func (b *Memory) Top(ctx context.Context, topicName string) (string, error) {
	if _, err := CheckArgs(ctx, topicName, "", nil); err != nil {
		return "", err
	}
	t, err := b.locked(topicName, false)
	if err != nil || t == nil {
		return Origin, err
	}
	defer t.mu.Unlock()
	t.active = b.now()
	return t.history().TopID(), nil
}

// Close ends every subscription with ErrClosed and makes later calls return
// ErrClosed. It waits for the broker's goroutines to end. It is idempotent.
func (b *Memory) Close() error {
	b.init()
	b.mu.Lock()
	topics := b.topics
	b.topics, b.closed = nil, true
	b.mu.Unlock()
	b.hub.Close()
	for _, t := range topics {
		t.mu.Lock()
		t.dead = true
		t.ring = ring{}
		t.mu.Unlock()
	}
	return nil
}

// String describes the broker for logs.
func (b *Memory) String() string {
	b.init()
	return fmt.Sprintf("bus.Memory(%s)", b.base)
}
