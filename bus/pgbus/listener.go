package pgbus

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pushpull/pushpull/bus"
)

// The listener of a Broker: one connection of its own that LISTENs on the
// broker's channel and hands every notification of a topic with
// subscribers in this process to the hub, a checker that compares the
// tops of those topics with what was delivered (the fallback poll), and
// the retention job.
//
// A notification can be lost without a trace while the connection is down
// (PostgreSQL keeps none for a session that is not listening). The
// listener never relies on it: after every (re)connection it runs a check
// once LISTEN is in effect, and the checker runs every CheckInterval. A
// check that finds a top beyond what subscribers received sends them to
// the history, which proves continuity.
type listener struct {
	b *Broker

	mu      sync.Mutex
	started bool
	stopped bool
	readyCh chan struct{} // closed while a connection listens; replaced when it drops
	quit    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	poke    chan struct{} // wakes the checker
	wg      sync.WaitGroup
}

// Timing of the listener.
const (
	readyTimeout = 10 * time.Second
	pingEvery    = 5 * time.Second
	pingTimeout  = 5 * time.Second
	minBackoff   = 50 * time.Millisecond
	maxBackoff   = 2 * time.Second
	checkChunk   = 1000
)

// signal wakes the goroutine waiting on ch without waiting itself.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// start starts the goroutines once, unless stopped. b.closeMu is held.
func (l *listener) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return
	}
	l.started = true
	l.readyCh = make(chan struct{})
	l.quit = make(chan struct{})
	l.poke = make(chan struct{}, 1)
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(3)
	go l.run()
	go l.check()
	go l.retain()
}

// ready waits until a connection listens.
func (l *listener) ready(ctx context.Context) error {
	l.mu.Lock()
	ch, quit := l.readyCh, l.quit
	l.mu.Unlock()
	if quit == nil {
		return bus.ErrClosed
	}
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-ch:
		return nil
	case <-quit:
		return bus.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return errNotListening
	}
}

// errNotListening ends a Subscribe that found no listening connection.
var errNotListening = errors.New("pgbus: subscribe: not listening within " + readyTimeout.String() + " (is the database reachable?)")

// stop makes the goroutines end; wait waits for them.
func (l *listener) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.stopped = true
	if l.started {
		close(l.quit)
		l.cancel()
	}
}

func (l *listener) wait() { l.wg.Wait() }

// run connects, listens and receives, reconnecting with backoff until stop.
func (l *listener) run() {
	defer l.wg.Done()
	backoff := minBackoff
	for {
		got := l.session()
		select {
		case <-l.quit:
			return
		default:
		}
		if got {
			backoff = minBackoff
		}
		select {
		case <-l.quit:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session runs one connection until it fails. It reports whether it
// listened.
func (l *listener) session() bool {
	cfg := l.b.Pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(l.ctx, cfg)
	if err != nil {
		l.failed("connect")
		return false
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	}()
	if _, err := conn.Exec(l.ctx, l.b.names.listen); err != nil {
		l.failed("listen")
		return false
	}
	l.mu.Lock()
	close(l.readyCh)
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.readyCh = make(chan struct{})
		l.mu.Unlock()
	}()
	// Whatever was published while nobody listened is found by a check
	// that starts now that LISTEN is in effect.
	signal(l.poke)
	for {
		ctx, cancel := context.WithTimeout(l.ctx, pingEvery)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		if err == nil {
			l.notify(n.Payload)
			continue
		}
		if l.ctx.Err() != nil || conn.IsClosed() || !pgconn.Timeout(err) {
			l.failed("feed")
			return true
		}
		// Nothing for a while: make sure the connection still works.
		ctx, cancel = context.WithTimeout(l.ctx, pingTimeout)
		err = conn.Ping(ctx)
		cancel()
		if err != nil {
			l.failed("feed")
			return true
		}
	}
}

// parseNotification parses "<topic> <epoch> <offset> [<base64 record>]".
// rec is nil when the record did not fit in the notification.
func parseNotification(payload string) (topic string, p bus.Position, rec []byte, ok bool) {
	topic, rest, ok1 := strings.Cut(payload, " ")
	epoch, rest, ok2 := strings.Cut(rest, " ")
	num, b64, hasRec := strings.Cut(rest, " ")
	off, err := strconv.ParseUint(num, 10, 64)
	if !ok1 || !ok2 || err != nil || !bus.ValidEpoch(epoch) || off == 0 || bus.ValidateTopic(topic) != nil {
		return "", bus.Position{}, nil, false
	}
	if hasRec {
		if rec, err = base64.StdEncoding.DecodeString(b64); err != nil || rec == nil {
			return "", bus.Position{}, nil, false
		}
	}
	return topic, bus.Position{Epoch: epoch, Offset: off}, rec, true
}

// notify hands the message of a notification to the hub, reading it from
// the table when the record did not fit in the notification.
func (l *listener) notify(payload string) {
	topic, p, rec, ok := parseNotification(payload)
	if !ok || !l.b.hub.Subscribed(topic) {
		return // not ours, or nobody here wants it; a check finds any message it hid
	}
	if rec != nil {
		m := bus.Message{Topic: topic, ID: p.ID()}
		if bus.DecodeRecord(rec, &m) == nil {
			l.b.hub.Deliver(topic, m, p)
		}
		return
	}
	msgs, err := l.b.readAfter(l.ctx, nil, topic, bus.Position{Epoch: p.Epoch, Offset: p.Offset - 1}, 1)
	if err != nil || len(msgs) != 1 || msgs[0].ID != p.ID() {
		signal(l.poke) // a check sends subscribers to the history
		return
	}
	l.b.hub.Deliver(topic, msgs[0], p)
}

// check runs checkAll every CheckInterval and when poked, and again soon
// (with backoff) after a check failed, so a dropped connection does not
// hold up the check that a reconnection asked for.
func (l *listener) check() {
	defer l.wg.Done()
	ticker := time.NewTicker(l.b.checkInterval())
	defer ticker.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	backoff := minBackoff
	for {
		select {
		case <-l.quit:
			return
		case <-ticker.C:
		case <-l.poke:
		case <-retry.C:
		}
		if l.checkAll() {
			backoff = minBackoff
			continue
		}
		retry.Reset(backoff)
		backoff = min(2*backoff, maxBackoff)
	}
}

// checkAll reads the top of every topic with subscribers and resyncs the
// hub with it. It reports whether every read succeeded.
func (l *listener) checkAll() bool {
	byName := make(map[string]*bus.HubTopic)
	l.b.hub.Each(func(t *bus.HubTopic) { byName[t.Name()] = t })
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	for len(names) > 0 {
		chunk := names[:min(len(names), checkChunk)]
		names = names[len(chunk):]
		if !l.checkChunk(byName, chunk) {
			return false
		}
	}
	return true
}

func (l *listener) checkChunk(byName map[string]*bus.HubTopic, chunk []string) bool {
	b := l.b
	if b.begin() != nil {
		return false
	}
	defer b.calls.Done()
	start := b.clock()
	rows, err := b.Pool.Query(l.ctx, b.names.tops, chunk)
	if err != nil {
		b.roundTrip("check", start, err)
		return false
	}
	if b.Metrics != nil {
		defer func() { b.roundTrip("check", start, rows.Err()) }()
	}
	defer rows.Close()
	for rows.Next() {
		var topic, epoch string
		var top int64
		if rows.Scan(&topic, &epoch, &top) != nil {
			return false
		}
		if t := byName[topic]; t != nil {
			b.hub.Resync(t, bus.Position{Epoch: epoch, Offset: uint64(top)})
		}
	}
	return rows.Err() == nil
}
