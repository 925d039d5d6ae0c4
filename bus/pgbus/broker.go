package pgbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Broker's fields.
const (
	DefaultPrefix            = "pushpull_"
	DefaultHistorySize       = bus.DefaultHistorySize
	DefaultHistoryTTL        = bus.DefaultHistoryTTL
	DefaultMetaTTL           = 30 * 24 * time.Hour
	DefaultBuffer            = bus.DefaultBuffer
	DefaultStallTimeout      = bus.DefaultStallTimeout
	DefaultCheckInterval     = 5 * time.Second
	DefaultRetentionInterval = time.Minute
)

// Broker is a bus.Broker on PostgreSQL. See the package documentation for
// the schema and guarantees.
//
// Pool is required, and the schema must exist (see Migrate); the other
// fields have useful zero values. Fields must not be changed after the
// first call of a method. A Broker is safe for concurrent use. Its
// goroutines (the listener, the fallback check and the retention job)
// start with its first call and end before Close returns.
type Broker struct {
	// Pool is the connection pool. Close closes it only when the Broker
	// was made by New. The listener takes one more connection of its own,
	// made from Pool's configuration.
	Pool *pgxpool.Pool
	// Prefix starts the name of every table, function and notification
	// channel of the broker, so several applications (or tests) can share
	// a database. It is 1 to 30 lower-case ASCII letters, digits and
	// underscores, starting with a letter or underscore (see
	// ValidatePrefix). Zero means DefaultPrefix.
	Prefix string
	// HistorySize is how many messages each topic retains, exactly. Zero
	// means DefaultHistorySize.
	HistorySize int
	// HistoryTTL is how long a message is retained after it was written;
	// the retention job removes older ones from the start of the history.
	// Zero means DefaultHistoryTTL; a negative value keeps messages until
	// HistorySize pushes them out.
	HistoryTTL time.Duration
	// MetaTTL is how long a topic's epoch and top are kept after its
	// history expired, so "nothing new after x" stays answerable: the
	// retention job removes a topic whose history is empty and whose last
	// publication is older than HistoryTTL plus MetaTTL. The next
	// publication to a removed topic starts a new epoch. Zero means
	// DefaultMetaTTL; a negative value keeps topics forever.
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
	// is read and compared with what they received: the fallback poll
	// that finds messages whose notification was lost. Zero means
	// DefaultCheckInterval.
	CheckInterval time.Duration
	// RetentionInterval is how often the retention job removes messages
	// older than HistoryTTL and topics idle for MetaTTL. Each run does a
	// bounded amount of work (see Expire). Zero means
	// DefaultRetentionInterval; a negative value disables the job (call
	// Expire yourself, for example from one instance only).
	RetentionInterval time.Duration
	// Metrics, when set, receives the broker's events, with Transport
	// "postgres": BusPublished for every Publish and PublishTx (with its
	// latency), BusCursorExpired for every expired cursor Subscribe or
	// Read refuses, BrokerRoundTrip for each query (Op "publish", "read",
	// "check", "ping"), BrokerError when the listener cannot connect (Op
	// "connect") or LISTEN (Op "listen"), or its connection fails (Op
	// "feed"), and the events of its bus.Hub. Nil reports nothing and
	// costs nothing.
	Metrics metrics.Recorder

	owned    bool // Pool was made by New
	initOnce sync.Once
	names    names
	nameErr  error
	hub      bus.Hub
	ln       listener
	closeMu  sync.Mutex
	closed   bool
	calls    sync.WaitGroup // calls in flight, waited for before closing Pool
}

var _ bus.Broker = (*Broker)(nil)

// New returns a Broker on the PostgreSQL database at connString, a URL or
// key=value string as pgxpool.ParseConfig accepts (for example
// "postgres://app@localhost:5432/app"). The Broker owns the pool and
// closes it in Close. New does not connect; the first call does.
func New(connString string) (*Broker, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("pgbus: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("pgbus: %w", err)
	}
	return &Broker{Pool: pool, owned: true}, nil
}

// readBatch is how many messages a lagging subscriber reads from the
// server at once (bus.Hub.ReadBatch): each read is a round trip.
const readBatch = 256

func (b *Broker) init() {
	b.initOnce.Do(func() {
		if b.Pool == nil {
			panic("pgbus: Broker.Pool is nil")
		}
		b.names, b.nameErr = newNames(b.Prefix)
		b.hub.Buffer = b.Buffer // the hub's defaults are the Broker's
		b.hub.MaxLag = int(b.maxLag())
		b.hub.StallTimeout = b.StallTimeout
		b.hub.Read = b.readAfter
		b.hub.ReadBatch = readBatch
		b.hub.Metrics, b.hub.Name = b.Metrics, name
		b.ln.b = b
	})
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
	if b.MetaTTL == 0 {
		return DefaultMetaTTL
	}
	return max(b.MetaTTL, 0)
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

func (b *Broker) retentionInterval() time.Duration {
	if b.RetentionInterval == 0 {
		return DefaultRetentionInterval
	}
	return b.RetentionInterval
}

// begin counts a call in flight and starts the broker's goroutines on the
// first; it fails once the broker is closed or when Prefix is invalid.
func (b *Broker) begin() error {
	b.init()
	if b.nameErr != nil {
		return b.nameErr
	}
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	b.calls.Add(1)
	b.ln.start()
	return nil
}

func (b *Broker) isClosed() bool {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	return b.closed
}

// wrap turns a database error of op on topic into the broker's error.
func (b *Broker) wrap(op, topic string, err error) error {
	if b.isClosed() {
		return bus.ErrClosed
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("pgbus: %s %q: %w", op, topic, err)
}

// A Querier runs a query: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Publish implements bus.Publisher. The message is stored and notified in a
// transaction of its own.
func (b *Broker) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	return b.publish(ctx, b.Pool, topic, m)
}

// PublishTx publishes m to topic inside the caller's transaction tx: the
// message is stored, gets its offset and reaches subscribers (and through
// them SSE clients, webhook endpoints and every other transport) if and
// only if tx commits. Until then the topic's row stays locked, so other
// publishers of the topic wait for tx to end: keep such transactions
// short. A rolled-back transaction leaves no trace, not even a hole in
// the offsets.
//
// The returned ID is final once tx commits. Under REPEATABLE READ or
// SERIALIZABLE isolation a concurrent publication to the same topic makes
// the transaction fail with a serialization error (SQLSTATE 40001), to be
// retried as usual; READ COMMITTED, PostgreSQL's default, waits instead.
func (b *Broker) PublishTx(ctx context.Context, tx pgx.Tx, topic string, m bus.Message) (bus.Message, error) {
	if tx == nil {
		panic("pgbus: PublishTx with a nil transaction")
	}
	return b.publish(ctx, tx, topic, m)
}

func (b *Broker) publishQ(ctx context.Context, q Querier, topic string, m bus.Message) (bus.Message, error) {
	b.init()
	if err := bus.CheckPublish(ctx, topic, &m); err != nil {
		return bus.Message{}, err
	}
	if err := b.begin(); err != nil {
		return bus.Message{}, err
	}
	defer b.calls.Done()
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	m.Time = m.Time.Round(0) // as subscribers will see it
	rec := bus.AppendRecord(nil, &m)
	var epoch string
	var off int64
	start := b.clock()
	err := q.QueryRow(ctx, b.names.publish, topic, bus.NewEpoch(), rec, int64(b.historySize())).Scan(&epoch, &off)
	b.roundTrip("publish", start, err)
	if err != nil {
		return bus.Message{}, b.wrap("publish to", topic, err)
	}
	m.Topic = topic
	m.ID = bus.Position{Epoch: epoch, Offset: uint64(off)}.ID()
	return m, nil
}

// Close ends every subscription with bus.ErrClosed, stops the broker's
// goroutines and makes later calls return bus.ErrClosed. It waits for the
// calls in flight, then closes Pool when the Broker was made by New. It is
// idempotent.
func (b *Broker) Close() error {
	b.init()
	b.closeMu.Lock()
	if b.closed {
		b.closeMu.Unlock()
		return nil
	}
	b.closed = true
	b.closeMu.Unlock()
	b.ln.stop()
	b.hub.Close()
	b.ln.wait()
	b.calls.Wait()
	if b.owned {
		b.Pool.Close()
	}
	return nil
}

// String describes the broker for logs.
func (b *Broker) String() string {
	p := b.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	return fmt.Sprintf("pgbus.Broker(%s)", p)
}
