package redisbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/redis/go-redis/v9"
)

// The upstream of a Broker: one PUB/SUB connection carrying the channels of
// every topic that has subscribers in this process, read by one goroutine,
// a writer goroutine that sends its SUBSCRIBE and UNSUBSCRIBE commands, and
// a checker goroutine that compares the topics' tops with what was
// notified.
//
// No network I/O happens under mu: hold and release (called with the hub
// locked) only record what the connection should carry and wake the
// writer, so a stalled server never blocks Subscribe past its context, the
// Close of a subscription, or the hub.
//
// A notification can be lost without a trace when the connection drops (or,
// after a failover, silently stays on a server nobody publishes to). The
// upstream never relies on it: a reconnection re-subscribes every channel
// and, once confirmed, triggers a check; the checker also runs every
// CheckInterval. A check that finds a top beyond what subscribers received
// sends them to the history, which proves continuity.
type upstream struct {
	b *Broker

	mu      sync.Mutex
	chans   map[string]*upChan // by channel name
	ps      *redis.PubSub      // nil while reconnecting
	unsubs  []string           // channels to unsubscribe on ps
	started bool
	stopped bool
	quit    chan struct{}
	cancel  context.CancelFunc
	ctx     context.Context
	poke    chan struct{} // wakes the checker
	wake    chan struct{} // wakes the writer
	wg      sync.WaitGroup
}

// upChan is one subscribed channel.
type upChan struct {
	name    string
	refs    int
	sent    bool          // SUBSCRIBE taken by the writer for the current connection
	readyCh chan struct{} // closed once the server confirmed the subscription
	readied bool
}

// Timing of the upstream connection.
const (
	readyTimeout = 10 * time.Second
	pingEvery    = 2 * time.Second
	minBackoff   = 50 * time.Millisecond
	maxBackoff   = 2 * time.Second
	checkChunk   = 512
)

// signal wakes the goroutine waiting on ch without waiting itself.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// hold registers a holder of topic's channel, starting the upstream
// goroutines on first use, and has the writer send the SUBSCRIBE of a new
// channel. It does no I/O.
func (u *upstream) hold(topic string) *upChan {
	name := u.b.channel(topic)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.chans == nil {
		u.chans = make(map[string]*upChan)
		u.quit = make(chan struct{})
		u.poke = make(chan struct{}, 1)
		u.wake = make(chan struct{}, 1)
		u.ctx, u.cancel = context.WithCancel(context.Background())
	}
	c := u.chans[name]
	if c != nil {
		c.refs++
		return c
	}
	c = &upChan{name: name, refs: 1, readyCh: make(chan struct{})}
	u.chans[name] = c
	if !u.started && !u.stopped {
		u.started = true
		u.wg.Add(3)
		go u.run()
		go u.write()
		go u.check()
	}
	signal(u.wake)
	return c
}

// release drops a holder of a channel and, after the last, has the writer
// unsubscribe it. It does no I/O.
func (u *upstream) release(_ string, up any) {
	c, _ := up.(*upChan)
	if c == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	c.refs--
	if c.refs > 0 || u.chans[c.name] != c {
		return
	}
	delete(u.chans, c.name)
	if c.sent && u.ps != nil && !u.stopped {
		u.unsubs = append(u.unsubs, c.name)
		signal(u.wake)
	}
}

// ready waits until the server confirmed the subscription of c.
func (u *upstream) ready(ctx context.Context, c *upChan) error {
	u.mu.Lock()
	quit := u.quit
	u.mu.Unlock()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-c.readyCh:
		return nil
	case <-quit:
		return bus.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("redisbus: subscribe %s: not confirmed within %v", c.name, readyTimeout)
	}
}

// stop makes the goroutines end; wait waits for them. The connection is
// closed outside mu: closing waits for a dial in progress, which the
// client's timeouts bound.
func (u *upstream) stop() {
	u.mu.Lock()
	if u.stopped {
		u.mu.Unlock()
		return
	}
	u.stopped = true
	if u.quit != nil {
		close(u.quit)
		u.cancel()
	}
	ps := u.ps
	u.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
}

func (u *upstream) wait() { u.wg.Wait() }

// connect makes a PUB/SUB connection for the writer to subscribe every
// held channel on. It does no I/O: the reader dials on its first receive.
func (u *upstream) connect() *redis.PubSub {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopped {
		return nil
	}
	for _, c := range u.chans {
		c.sent = false
	}
	u.unsubs = nil
	u.ps = u.b.Client.Subscribe(u.ctx)
	signal(u.wake)
	return u.ps
}

// write sends, without holding mu, the SUBSCRIBE and UNSUBSCRIBE commands
// that hold and release asked for, in their order, until stop.
func (u *upstream) write() {
	defer u.wg.Done()
	for {
		select {
		case <-u.quit:
			return
		case <-u.wake:
		}
		u.mu.Lock()
		ps := u.ps
		if ps == nil || u.stopped {
			u.mu.Unlock()
			continue // connect wakes the writer again
		}
		unsubs := u.unsubs
		u.unsubs = nil
		var subs []string
		for name, c := range u.chans {
			if !c.sent {
				c.sent = true
				subs = append(subs, name)
			}
		}
		u.mu.Unlock()
		// A failure shows up in the reader, which reconnects.
		if len(unsubs) > 0 {
			_ = ps.Unsubscribe(u.ctx, unsubs...)
		}
		if len(subs) > 0 {
			_ = ps.Subscribe(u.ctx, subs...)
		}
	}
}

var errReconnect = errors.New("redisbus: PUB/SUB connection lost")

// run reads the PUB/SUB connection, reconnecting with backoff until stop.
func (u *upstream) run() {
	defer u.wg.Done()
	backoff := minBackoff
	for {
		ps := u.connect()
		if ps == nil {
			return
		}
		got := u.receive(ps)
		// The node may be gone: a cluster client must learn where its
		// slots went before resubscribing.
		u.b.failed(errReconnect)
		u.mu.Lock()
		u.ps = nil
		stopped := u.stopped
		u.mu.Unlock()
		_ = ps.Close()
		if stopped {
			return
		}
		if got {
			backoff = minBackoff
		}
		select {
		case <-u.quit:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// receive handles what arrives on ps until an error or a missing pong. It
// reports whether anything arrived.
func (u *upstream) receive(ps *redis.PubSub) bool {
	got, pinged := false, false
	for {
		msg, err := ps.ReceiveTimeout(u.ctx, pingEvery)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || pinged {
				return got
			}
			if ps.Ping(u.ctx) != nil {
				return got
			}
			pinged = true
			continue
		}
		got, pinged = true, false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				u.confirm(m.Channel)
			}
		case *redis.Message:
			u.notify(m)
		}
	}
}

// confirm marks a channel subscribed. A channel confirmed again was
// resubscribed after a reconnection: its notifications may have been
// lost, so the checker runs.
func (u *upstream) confirm(name string) {
	u.mu.Lock()
	c := u.chans[name]
	again := false
	if c != nil {
		if c.readied {
			again = true
		} else {
			c.readied = true
			close(c.readyCh)
		}
	}
	u.mu.Unlock()
	if again {
		signal(u.poke)
	}
}

// notify parses "<epoch> <offset> <record>" and hands it to the hub.
func (u *upstream) notify(m *redis.Message) {
	topic, ok := u.b.topicOf(m.Channel)
	if !ok {
		return
	}
	epoch, rest, ok1 := strings.Cut(m.Payload, " ")
	num, rec, ok2 := strings.Cut(rest, " ")
	off, err := strconv.ParseUint(num, 10, 64)
	if !ok1 || !ok2 || err != nil || !bus.ValidEpoch(epoch) {
		return // not ours; a check finds any message it hid
	}
	p := bus.Position{Epoch: epoch, Offset: off}
	msg := bus.Message{Topic: topic, ID: p.ID()}
	if bus.DecodeRecord([]byte(rec), &msg) != nil {
		return
	}
	u.b.hub.Deliver(topic, msg, p)
}

// check runs checkAll every CheckInterval and when poked.
func (u *upstream) check() {
	defer u.wg.Done()
	ticker := time.NewTicker(u.b.checkInterval())
	defer ticker.Stop()
	for {
		select {
		case <-u.quit:
			return
		case <-ticker.C:
		case <-u.poke:
		}
		u.checkAll()
	}
}

// checkAll reads the top of every topic with subscribers and resyncs the
// hub with it.
func (u *upstream) checkAll() {
	var topics []*bus.HubTopic
	u.b.hub.Each(func(t *bus.HubTopic) { topics = append(topics, t) })
	for len(topics) > 0 {
		n := min(len(topics), checkChunk)
		chunk := topics[:n]
		topics = topics[n:]
		cmds := make([]*redis.SliceCmd, n)
		if u.b.begin() != nil {
			return
		}
		_, err := u.b.Client.Pipelined(u.ctx, func(p redis.Pipeliner) error {
			for i, t := range chunk {
				cmds[i] = p.HMGet(u.ctx, u.b.metaKey(t.Name()), "e", "s")
			}
			return nil
		})
		u.b.calls.Done()
		if err != nil {
			u.b.failed(err)
			return // the next check retries
		}
		for i, t := range chunk {
			vals := cmds[i].Val()
			if len(vals) != 2 || vals[0] == nil || vals[1] == nil {
				continue
			}
			epoch, _ := vals[0].(string)
			s, _ := vals[1].(string)
			off, err := strconv.ParseUint(s, 10, 64)
			if err != nil || !bus.ValidEpoch(epoch) {
				continue
			}
			u.b.hub.Resync(t, bus.Position{Epoch: epoch, Offset: off})
		}
	}
}
