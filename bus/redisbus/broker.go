package redisbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/redis/go-redis/v9"
)

// Defaults of the Broker's fields.
const (
	DefaultPrefix        = "pushpull:"
	DefaultHistorySize   = bus.DefaultHistorySize
	DefaultHistoryTTL    = bus.DefaultHistoryTTL
	DefaultMetaTTL       = 30 * 24 * time.Hour
	DefaultBuffer        = bus.DefaultBuffer
	DefaultStallTimeout  = bus.DefaultStallTimeout
	DefaultCheckInterval = 5 * time.Second
)

// Broker is a bus.Broker on Redis. See the package documentation for the
// data layout and guarantees.
//
// Client is required; the other fields have useful zero values. Fields must
// not be changed after the first call of a method. A Broker is safe for
// concurrent use. It starts its goroutines with the first Subscribe, and
// they end before Close returns.
type Broker struct {
	// Client is the Redis connection pool. Close closes it only when the
	// Broker was made by New.
	Client redis.UniversalClient
	// Prefix starts every key and channel name of the broker, so several
	// applications (or tests) can share a Redis. Zero means DefaultPrefix.
	Prefix string
	// HistorySize is how many messages each topic retains, exactly. Zero
	// means DefaultHistorySize.
	HistorySize int
	// HistoryTTL is how long a topic's history is kept after its last
	// publication: the whole stream expires together. Zero means
	// DefaultHistoryTTL; a negative value keeps the history until
	// HistorySize pushes messages out.
	HistoryTTL time.Duration
	// MetaTTL is how long a topic's epoch and top are kept after its last
	// use, so "nothing new after x" stays answerable after the history
	// expired. It is never shorter than HistoryTTL. Zero means
	// DefaultMetaTTL.
	MetaTTL time.Duration
	// Buffer is the capacity of each subscription's channel. Zero means
	// DefaultBuffer.
	Buffer int
	// MaxLag is how far, in messages, a subscriber that stopped reading may
	// fall behind before it is cut with bus.ErrSlowConsumer (once
	// StallTimeout has passed too). Zero means HistorySize/2.
	MaxLag int
	// StallTimeout is how long a subscriber whose channel is full may take
	// nothing before it counts as stopped. Zero means DefaultStallTimeout.
	StallTimeout time.Duration
	// CheckInterval is how often the top of every topic with subscribers
	// is compared with what they received, the backstop against
	// notifications lost without a connection error. Zero means
	// DefaultCheckInterval.
	CheckInterval time.Duration
	// Metrics receives the broker's events (package metrics): publications,
	// round trips to Redis, expired cursors, feed failures, and the
	// fan-out's through bus.Hub, named "redis". Nil means none.
	Metrics metrics.Recorder

	owned    bool // Client was made by New
	plain    bool // never use sharded PUB/SUB (tests and benchmarks)
	mode     atomic.Int32
	initOnce sync.Once
	hub      bus.Hub
	up       upstream
	closeMu  sync.Mutex
	closed   bool
	calls    sync.WaitGroup // calls in flight, waited for before closing Client
}

var _ bus.Broker = (*Broker)(nil)

// New returns a Broker on the Redis server at url, a redis:// or rediss://
// URL as accepted by redis.ParseURL (for example
// "redis://user:secret@localhost:6379/0"). The Broker owns the client and
// closes it in Close. New does not connect; the first call does.
func New(url string) (*Broker, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisbus: %w", err)
	}
	return &Broker{Client: redis.NewClient(opt), owned: true}, nil
}

// readBatch is how many messages a lagging subscriber reads from the
// server at once (bus.Hub.ReadBatch): each read is a round trip.
const readBatch = 256

func (b *Broker) init() {
	b.initOnce.Do(func() {
		if b.Client == nil {
			panic("redisbus: Broker.Client is nil")
		}
		b.hub.Buffer = b.Buffer // the hub's defaults are the Broker's
		b.hub.MaxLag = int(b.maxLag())
		b.hub.StallTimeout = b.StallTimeout
		b.hub.Read = b.readAfter
		b.hub.ReadBatch = readBatch
		b.hub.Idle = b.up.release
		b.hub.Metrics = b.Metrics
		b.hub.Name = name
		b.up.b = b
	})
}

func (b *Broker) prefix() string {
	if b.Prefix != "" {
		return b.Prefix
	}
	return DefaultPrefix
}

func (b *Broker) historySize() int {
	if b.HistorySize > 0 {
		return b.HistorySize
	}
	return DefaultHistorySize
}

func (b *Broker) historyTTL() time.Duration {
	if b.HistoryTTL == 0 {
		return DefaultHistoryTTL
	}
	return max(b.HistoryTTL, 0)
}

func (b *Broker) metaTTL() time.Duration {
	d := b.MetaTTL
	if d <= 0 {
		d = DefaultMetaTTL
	}
	return max(d, b.historyTTL())
}

func (b *Broker) maxLag() uint64 {
	if b.MaxLag > 0 {
		return uint64(b.MaxLag)
	}
	return uint64(max(b.historySize()/2, 1))
}

func (b *Broker) checkInterval() time.Duration {
	if b.CheckInterval > 0 {
		return b.CheckInterval
	}
	return DefaultCheckInterval
}

// Keys and channel of a topic. The topic is a hash tag, so a topic's keys
// live in one Redis Cluster slot.
func (b *Broker) metaKey(topic string) string   { return b.prefix() + "{" + topic + "}:meta" }
func (b *Broker) streamKey(topic string) string { return b.prefix() + "{" + topic + "}:stream" }
func (b *Broker) channel(topic string) string   { return b.prefix() + "{" + topic + "}" }

// topicOf returns the topic of a channel name made by channel.
func (b *Broker) topicOf(ch string) (string, bool) {
	p := b.prefix()
	if len(ch) < len(p)+2 || ch[:len(p)+1] != p+"{" || ch[len(ch)-1] != '}' {
		return "", false
	}
	return ch[len(p)+1 : len(ch)-1], true
}

// begin counts a call in flight; it fails once the broker is closed.
func (b *Broker) begin() error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	b.calls.Add(1)
	return nil
}

func (b *Broker) isClosed() bool {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	return b.closed
}

// failed has a Redis Cluster client reload its slot map after a failed
// call. go-redis reloads it on a MOVED reply, but keeps sending the slots
// of a primary that stopped answering to that primary until its next
// periodic reload (a minute by default), long after a replica took over.
// The reload is asynchronous and rate-limited by the client.
func (b *Broker) failed(err error) {
	if c, ok := b.Client.(*redis.ClusterClient); ok && err != nil && !errors.Is(err, context.Canceled) {
		c.ReloadState(context.Background())
	}
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// publish is Publish without its report.
func (b *Broker) publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	b.init()
	if err := bus.CheckPublish(ctx, topic, &m); err != nil {
		return bus.Message{}, err
	}
	if err := b.begin(); err != nil {
		return bus.Message{}, err
	}
	defer b.calls.Done()
	sharded, err := b.sharded(ctx)
	if err != nil {
		return bus.Message{}, fmt.Errorf("redisbus: publish to %q: %w", topic, err)
	}
	notify := "PUBLISH"
	if sharded {
		notify = "SPUBLISH"
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	m.Time = m.Time.Round(0) // as subscribers will see it
	rec := bus.AppendRecord(nil, &m)
	start := b.report().Start()
	res, err := publishScript.Run(ctx, b.Client,
		[]string{b.metaKey(topic), b.streamKey(topic)},
		bus.NewEpoch(), b.historySize(), ms(b.historyTTL()), ms(b.metaTTL()), b.channel(topic), rec, notify,
	).Slice()
	b.report().RoundTrip("publish", start, err)
	if err != nil {
		if b.isClosed() {
			return bus.Message{}, bus.ErrClosed
		}
		b.failed(err)
		return bus.Message{}, fmt.Errorf("redisbus: publish to %q: %w", topic, err)
	}
	if len(res) != 2 {
		return bus.Message{}, fmt.Errorf("redisbus: publish to %q: unexpected reply %v", topic, res)
	}
	epoch, _ := res[0].(string)
	off, _ := res[1].(int64)
	m.Topic = topic
	m.ID = bus.Position{Epoch: epoch, Offset: uint64(off)}.ID()
	return m, nil
}

// Close ends every subscription with bus.ErrClosed, stops the broker's
// goroutines and makes later calls return bus.ErrClosed. It waits for the
// calls in flight, then closes Client when the Broker was made by New. It
// is idempotent.
func (b *Broker) Close() error {
	b.init()
	b.closeMu.Lock()
	if b.closed {
		b.closeMu.Unlock()
		return nil
	}
	b.closed = true
	b.closeMu.Unlock()
	b.up.stop()
	b.hub.Close()
	b.up.wait()
	b.calls.Wait()
	if b.owned {
		return b.Client.Close()
	}
	return nil
}

// String describes the broker for logs.
func (b *Broker) String() string { return fmt.Sprintf("redisbus.Broker(%s)", b.prefix()) }
