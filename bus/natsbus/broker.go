package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// Defaults of the Broker's fields.
const (
	DefaultStream        = "PUSHPULL"
	DefaultPrefix        = "pushpull"
	DefaultHistorySize   = bus.DefaultHistorySize
	DefaultBuffer        = bus.DefaultBuffer
	DefaultStallTimeout  = bus.DefaultStallTimeout
	DefaultCheckInterval = 5 * time.Second
	// DefaultRequestTimeout bounds one request to the server.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultPublishTimeout bounds the retries of one publication.
	DefaultPublishTimeout = 30 * time.Second
)

// Message headers carrying a message's position.
const (
	hdrEpoch  = "Pushpull-Epoch"
	hdrOffset = "Pushpull-Offset"
)

// Broker is a bus.Broker on NATS JetStream. See the package documentation
// for the stream layout and guarantees.
//
// Conn is required; the other fields have useful zero values. Fields must not
// be changed after the first call of a method. A Broker is safe for
// concurrent use. It starts its goroutines with the first Subscribe, and
// they end before Close returns.
type Broker struct {
	// Conn is the NATS connection. The Broker does not close it.
	Conn *nats.Conn
	// Stream is the name of the JetStream stream holding the topics. It is
	// created, or updated to the Broker's settings, on first use, so it must
	// serve pushpull only. Zero means DefaultStream.
	Stream string
	// Prefix starts the subjects of the stream: topics are stored under
	// "<Prefix>.t.<topic>" and announced under "<Prefix>.live.<topic>".
	// Zero means DefaultPrefix. Every Broker on a stream uses the same.
	Prefix string
	// HistorySize is how many messages each topic retains
	// (MaxMsgsPerSubject). Zero means DefaultHistorySize.
	HistorySize int
	// HistoryTTL is the stream's MaxAge. Zero keeps messages until
	// HistorySize pushes them out. A topic whose messages all aged out
	// starts a new epoch.
	HistoryTTL time.Duration
	// Replicas is the stream's replica count. Zero means 1. With more than
	// one replica, reads go through the stream's leader instead of direct
	// gets, which any replica may answer from a state that misses the
	// newest messages.
	Replicas int
	// MemoryStorage keeps the stream in memory instead of files.
	MemoryStorage bool
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
	// is compared with what they received, the backstop against lost
	// announcements. Zero means DefaultCheckInterval.
	CheckInterval time.Duration
	// RequestTimeout bounds each request to the server (a publication, a
	// read), within the caller's context: a request lost while the
	// connection was down fails after it instead of waiting for the
	// caller's deadline. Zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// PublishTimeout bounds how long, within the caller's context, Publish
	// retries a publication that got no reply or found no stream leader
	// (a server died, the stream is electing a leader); it then returns
	// the last error. Retries carry the same Nats-Msg-Id, so the message
	// is stored once. Zero means DefaultPublishTimeout; a value below
	// RequestTimeout allows one attempt.
	PublishTimeout time.Duration
	// Metrics, when set, receives the broker's events, with Transport
	// "nats": BusPublished for every Publish (with its latency, counting
	// its retries), BusCursorExpired for every expired cursor Subscribe
	// or Read refuses, BrokerRoundTrip for each request to the server
	// (Op "stream", "publish", "get", "get_last", "fetch", "ping"), BrokerError
	// for a failed announcement subscription (Op "subscribe") and for
	// every reconnection the checker sees (Op "reconnect"), and the
	// events of its bus.Hub. Nil reports nothing and costs nothing.
	Metrics metrics.Recorder

	initOnce sync.Once
	js       jetstream.JetStream
	hub      bus.Hub
	up       upstream

	streamMu sync.Mutex
	stream   jetstream.Stream

	pubMu sync.Mutex
	pubs  map[string]*pubState

	closeMu sync.Mutex
	closed  bool
}

var _ bus.Broker = (*Broker)(nil)

// pubState caches the last position of a topic this process published, so
// a publication usually takes one round trip.
type pubState struct {
	mu    sync.Mutex
	known bool
	epoch string
	off   uint64
	seq   uint64 // stream sequence of the topic's last message
}

// readBatch is how many messages a lagging subscriber reads from the
// server at once (bus.Hub.ReadBatch): each read is a round trip.
const readBatch = 256

func (b *Broker) init() {
	b.initOnce.Do(func() {
		if b.Conn == nil {
			panic("natsbus: Broker.Conn is nil")
		}
		js, err := jetstream.New(b.Conn)
		if err != nil {
			panic("natsbus: " + err.Error()) // only for a nil connection
		}
		b.js = js
		b.hub.Buffer = b.Buffer // the hub's defaults are the Broker's
		b.hub.MaxLag = int(b.maxLag())
		b.hub.StallTimeout = b.StallTimeout
		b.hub.Read = b.readAfter
		b.hub.ReadBatch = readBatch
		b.hub.Idle = b.up.release
		b.hub.Metrics, b.hub.Name = b.Metrics, name
		b.up.b = b
		b.pubs = make(map[string]*pubState)
	})
}

func (b *Broker) streamName() string {
	if b.Stream != "" {
		return b.Stream
	}
	return DefaultStream
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

func (b *Broker) maxLag() uint64 {
	if b.MaxLag > 0 {
		return uint64(b.MaxLag)
	}
	return uint64(max(b.historySize()/2, 1))
}

func (b *Broker) requestTimeout() time.Duration {
	if b.RequestTimeout > 0 {
		return b.RequestTimeout
	}
	return DefaultRequestTimeout
}

func (b *Broker) publishTimeout() time.Duration {
	if b.PublishTimeout > 0 {
		return b.PublishTimeout
	}
	return DefaultPublishTimeout
}

// request bounds one request to the server.
func (b *Broker) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.requestTimeout())
}

func (b *Broker) checkInterval() time.Duration {
	if b.CheckInterval > 0 {
		return b.CheckInterval
	}
	return DefaultCheckInterval
}

// escape makes a topic one subject token: "." (a token separator) becomes
// "~d" and "~" becomes "~t". The other topic characters are plain in
// subjects, and the wildcards * and > are not topic characters.
func escape(topic string) string {
	if !strings.ContainsAny(topic, ".~") {
		return topic
	}
	var sb strings.Builder
	for i := 0; i < len(topic); i++ {
		switch c := topic[i]; c {
		case '.':
			sb.WriteString("~d")
		case '~':
			sb.WriteString("~t")
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

func (b *Broker) subject(topic string) string { return b.prefix() + ".t." + escape(topic) }
func (b *Broker) live(topic string) string    { return b.prefix() + ".live." + escape(topic) }

// streamConfig returns the configuration of the Broker's stream.
func (b *Broker) streamConfig() jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:              b.streamName(),
		Subjects:          []string{b.prefix() + ".t.>"},
		MaxMsgsPerSubject: int64(b.historySize()),
		MaxAge:            max(b.HistoryTTL, 0),
		Discard:           jetstream.DiscardOld,
		Replicas:          max(b.Replicas, 1),
		// A replica behind the leader would answer a direct get with an
		// old top: a read missing a message it just saw published, or a
		// valid cursor taken for an expired one.
		AllowDirect: b.Replicas <= 1,
		RePublish:   &jetstream.RePublish{Source: b.prefix() + ".t.>", Destination: b.prefix() + ".live.>"},
	}
	if b.MemoryStorage {
		cfg.Storage = jetstream.MemoryStorage
	}
	return cfg
}

// ensureStream creates or updates the stream once per Broker, retrying on
// the next call after a failure.
func (b *Broker) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	b.streamMu.Lock()
	defer b.streamMu.Unlock()
	if b.stream != nil {
		return b.stream, nil
	}
	cfg := b.streamConfig()
	start := b.clock()
	s, err := b.js.CreateOrUpdateStream(ctx, cfg)
	b.roundTrip("stream", start, err)
	if err != nil {
		return nil, fmt.Errorf("natsbus: stream %s: %w", cfg.Name, err)
	}
	b.stream = s
	return s, nil
}

func (b *Broker) isClosed() bool {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	return b.closed
}

// position reads the epoch and offset headers of a stored message.
func position(m *jetstream.RawStreamMsg) (bus.Position, error) {
	p, err := positionOf(m.Header)
	if err != nil {
		return p, fmt.Errorf("natsbus: stream message %d on %s: %w", m.Sequence, m.Subject, err)
	}
	return p, nil
}

// positionOf reads the epoch and offset headers.
func positionOf(h nats.Header) (bus.Position, error) {
	epoch := h.Get(hdrEpoch)
	off, err := strconv.ParseUint(h.Get(hdrOffset), 10, 64)
	if err != nil || !bus.ValidEpoch(epoch) {
		return bus.Position{}, errors.New("no valid position headers")
	}
	return bus.Position{Epoch: epoch, Offset: off}, nil
}

// wrongLast reports a failed expected-last-sequence-per-subject check: a
// publication of another process came first.
func wrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// maxPubStates bounds the cache of last positions. Dropping it is safe:
// publications of the process then race through the server's check like
// those of other processes.
const maxPubStates = 10_000

func (b *Broker) pubState(topic string) *pubState {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	ps := b.pubs[topic]
	if ps == nil {
		if len(b.pubs) >= maxPubStates {
			clear(b.pubs)
		}
		ps = &pubState{}
		b.pubs[topic] = ps
	}
	return ps
}

// maxConflicts bounds the retries of a publication that keeps losing the
// race for the next offset.
const maxConflicts = 1000

func (b *Broker) publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	b.init()
	if err := bus.CheckPublish(ctx, topic, &m); err != nil {
		return bus.Message{}, err
	}
	if b.isClosed() {
		return bus.Message{}, bus.ErrClosed
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	m.Time = m.Time.Round(0) // as subscribers will see it
	rec := bus.AppendRecord(nil, &m)
	if limit := b.Conn.MaxPayload(); int64(len(rec))+256 > limit {
		return bus.Message{}, fmt.Errorf("%w: %d bytes, the server takes at most %d", bus.ErrInvalidMessage, len(rec), limit-256)
	}
	p, err := b.append(ctx, topic, rec)
	if err != nil {
		if b.isClosed() {
			return bus.Message{}, bus.ErrClosed
		}
		return bus.Message{}, fmt.Errorf("natsbus: publish to %q: %w", topic, err)
	}
	m.Topic = topic
	m.ID = p.ID()
	return m, nil
}

// append stores rec as the topic's next message.
//
// An attempt that gets no reply (the stream is electing a leader, the
// connection dropped) may or may not have been stored. It is retried, with
// the same Nats-Msg-Id, until PublishTimeout: the server drops a
// duplicate of a stored ID, and before each retry the topic's messages
// stored since the first such attempt are searched for the ID, so the
// message is stored once whichever check the server runs first.
func (b *Broker) append(ctx context.Context, topic string, rec []byte) (bus.Position, error) {
	ctx, cancel := context.WithTimeout(ctx, b.publishTimeout())
	defer cancel()
	ps := b.pubState(topic)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	a := attempt{b: b, ps: ps, subject: b.subject(topic), rec: rec, id: bus.NewEpoch() + bus.NewEpoch()}
	pause := minRetryPause
	for conflicts := 0; conflicts < maxConflicts; {
		p, err := a.try(ctx)
		switch {
		case err == nil:
			return p, nil
		case wrongLast(err):
			conflicts++
			continue
		case !retryable(err) || ctx.Err() != nil:
			return bus.Position{}, err
		}
		select {
		case <-ctx.Done():
			return bus.Position{}, err
		case <-time.After(pause):
		}
		pause = min(2*pause, maxRetryPause)
	}
	return bus.Position{}, errors.New("too many concurrent publications")
}

// Pauses between the attempts of a publication that got no reply.
const (
	minRetryPause = 25 * time.Millisecond
	maxRetryPause = time.Second
)

// attempt is one publication, tried until it is stored once.
type attempt struct {
	b       *Broker
	ps      *pubState
	subject string
	rec     []byte
	id      string // Nats-Msg-Id of every try

	unsure bool   // a try got no reply: it may be stored
	since  uint64 // then: a stored copy follows this stream sequence
}

// try makes one attempt, within one RequestTimeout.
func (a *attempt) try(ctx context.Context) (bus.Position, error) {
	ctx, cancel := a.b.request(ctx)
	defer cancel()
	s, err := a.b.ensureStream(ctx)
	if err != nil {
		return bus.Position{}, err
	}
	ps := a.ps
	if !ps.known {
		if err := a.resync(ctx, s); err != nil {
			return bus.Position{}, err
		}
		if p, ok, err := a.stored(ctx, s); err != nil || ok {
			return p, err
		}
	}
	next := ps.off + 1
	msg := nats.NewMsg(a.subject)
	msg.Header.Set(hdrEpoch, ps.epoch)
	msg.Header.Set(hdrOffset, strconv.FormatUint(next, 10))
	msg.Data = a.rec
	start := a.b.clock()
	ack, err := a.b.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(ps.seq), jetstream.WithMsgID(a.id))
	a.b.roundTrip("publish", start, err)
	if err != nil {
		ps.known = false
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) && !a.unsure {
			a.unsure, a.since = true, ps.seq
		}
		return bus.Position{}, err
	}
	if ack.Duplicate { // an earlier try was stored
		ps.known = false
		m, err := s.GetMsg(ctx, ack.Sequence)
		if err != nil {
			return bus.Position{}, err
		}
		return position(m)
	}
	ps.off, ps.seq = next, ack.Sequence
	return bus.Position{Epoch: ps.epoch, Offset: next}, nil
}

// resync reads the topic's last message into the publication state.
func (a *attempt) resync(ctx context.Context, s jetstream.Stream) error {
	ps := a.ps
	start := a.b.clock()
	last, err := s.GetLastMsgForSubject(ctx, a.subject)
	a.b.roundTrip("get_last", start, err)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		ps.epoch, ps.off, ps.seq = bus.NewEpoch(), 0, 0
	case err != nil:
		return err
	default:
		p, err := position(last)
		if err != nil {
			return err
		}
		ps.epoch, ps.off, ps.seq = p.Epoch, p.Offset, last.Sequence
	}
	ps.known = true
	return nil
}

// stored looks for a copy of the publication that a try without a reply
// stored, among the topic's messages after a.since.
func (a *attempt) stored(ctx context.Context, s jetstream.Stream) (bus.Position, bool, error) {
	if !a.unsure {
		return bus.Position{}, false, nil
	}
	for seq := a.since + 1; seq <= a.ps.seq; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(a.subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return bus.Position{}, false, err
		}
		if m.Header.Get(jetstream.MsgIDHeader) == a.id {
			p, err := position(m)
			return p, err == nil, err
		}
		seq = m.Sequence + 1
	}
	// Not stored so far; later tries expect the current last message, so
	// one still in flight can no longer be stored.
	a.since = a.ps.seq
	return bus.Position{}, false, nil
}

// retryable reports whether a publication that failed with err may have
// failed for want of a stream leader or a reply, and is worth retrying.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code >= 500 // no leader, cluster unavailable
	}
	return !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, context.Canceled)
}

// Close ends every subscription with bus.ErrClosed, stops the broker's
// goroutines and subscriptions and makes later calls return bus.ErrClosed.
// It does not close Conn. It is idempotent.
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
	return nil
}

// String describes the broker for logs.
func (b *Broker) String() string {
	return fmt.Sprintf("natsbus.Broker(%s %s)", b.streamName(), b.prefix())
}
