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

// The upstream of a Broker: the PUB/SUB connections carrying the channels
// of every topic that has subscribers in this process, and a checker
// goroutine that compares the topics' tops with what was notified.
//
// With plain PUB/SUB one link (connection) carries every channel. With
// sharded PUB/SUB on a Redis Cluster there is one link per hash slot in
// use: SSUBSCRIBE must reach the primary owning the channel's slot, one
// command cannot span slots, and go-redis resubscribes all of a
// connection's channels in one command after it reconnects. A link is
// started by its first channel and ends with its last. Each link has a
// reader goroutine that (re)connects it and a writer goroutine that sends
// its SUBSCRIBE and UNSUBSCRIBE commands.
//
// No network I/O happens under mu: hold and release (called with the hub
// locked) only record what the links should carry and wake the writers, so
// a stalled server never blocks Subscribe past its context, the Close of a
// subscription, or the hub.
//
// A notification can be lost without a trace when a connection drops (or,
// after a failover or a slot migration, silently stays on a server nobody
// publishes to). The upstream never relies on it: a reconnection
// re-subscribes every channel of the link and, once confirmed, triggers a
// check; a server that stops serving a shard channel (its slot moved)
// unsubscribes it, which makes the link reconnect; the checker also runs
// every CheckInterval. A check that finds a top beyond what subscribers
// received sends them to the history, which proves continuity.
type upstream struct {
	b *Broker

	mu      sync.Mutex
	chans   map[string]*upChan // by channel name
	links   map[int]*link      // by slot; plainLink for plain PUB/SUB
	started bool
	stopped bool
	quit    chan struct{}
	cancel  context.CancelFunc
	ctx     context.Context
	poke    chan struct{} // wakes the checker
	wg      sync.WaitGroup
}

// plainLink is the key of the one link of plain PUB/SUB.
const plainLink = -1

// link is one PUB/SUB connection and the channels it carries. Its fields
// are guarded by the upstream's mu.
type link struct {
	u      *upstream
	slot   int // plainLink: plain PUB/SUB, else the slot of every channel
	chans  map[string]*upChan
	ps     *redis.PubSub // nil while reconnecting
	unsubs []string      // channels to unsubscribe on ps
	ended  bool          // its last channel was released
	wake   chan struct{} // wakes the writer
}

// upChan is one subscribed channel.
type upChan struct {
	name    string
	refs    int
	link    *link
	sent    bool          // SUBSCRIBE taken by the writer for the current connection
	readyCh chan struct{} // closed once the server confirmed the subscription
	readied bool
}

// Timing of the upstream connections.
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

// hold registers a holder of topic's channel, starting the checker on
// first use and the channel's link when it has none, and has the link's
// writer send the SUBSCRIBE of a new channel. It does no I/O: the Broker
// knows whether PUB/SUB is sharded before it subscribes.
func (u *upstream) hold(topic string) *upChan {
	name := u.b.channel(topic)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.chans == nil {
		u.chans = make(map[string]*upChan)
		u.links = make(map[int]*link)
		u.quit = make(chan struct{})
		u.poke = make(chan struct{}, 1)
		u.ctx, u.cancel = context.WithCancel(context.Background())
	}
	c := u.chans[name]
	if c != nil {
		c.refs++
		return c
	}
	c = &upChan{name: name, refs: 1, readyCh: make(chan struct{})}
	u.chans[name] = c
	if u.stopped {
		return c // ready reports bus.ErrClosed
	}
	if !u.started {
		u.started = true
		u.wg.Add(1)
		go u.check()
	}
	key := plainLink
	if u.b.isSharded() {
		key = int(slot(name))
	}
	l := u.links[key]
	if l == nil {
		l = &link{u: u, slot: key, chans: make(map[string]*upChan), wake: make(chan struct{}, 1)}
		u.links[key] = l
		u.wg.Add(2)
		go l.run()
		go l.write()
	}
	c.link = l
	l.chans[name] = c
	signal(l.wake)
	return c
}

// release drops a holder of a channel and, after the last, has the
// writer of its link unsubscribe it, or end the link with its last
// channel. It does no I/O.
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
	l := c.link
	if l == nil {
		return
	}
	delete(l.chans, c.name)
	if len(l.chans) == 0 && l.slot != plainLink {
		l.ended = true
		delete(u.links, l.slot)
		signal(l.wake)
		return
	}
	if c.sent && l.ps != nil && !u.stopped {
		l.unsubs = append(l.unsubs, c.name)
		signal(l.wake)
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

// stop makes the goroutines end; wait waits for them. The connections are
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
	var open []*redis.PubSub
	for _, l := range u.links {
		if l.ps != nil {
			open = append(open, l.ps)
		}
	}
	u.mu.Unlock()
	for _, ps := range open {
		_ = ps.Close()
	}
}

func (u *upstream) wait() { u.wg.Wait() }

// connect makes a PUB/SUB connection for the link, or returns nil once the
// link or the upstream ended. A plain connection does no I/O: the writer
// subscribes every channel and the reader dials on its first receive. A
// sharded connection is dialed here, with every channel of the link, so
// that go-redis routes it to the primary owning the slot (it routes by the
// first channel, and to a random node without one).
func (l *link) connect() *redis.PubSub {
	u := l.u
	u.mu.Lock()
	if u.stopped || l.ended {
		u.mu.Unlock()
		return nil
	}
	for _, c := range l.chans {
		c.sent = false
	}
	l.unsubs = nil
	if l.slot == plainLink {
		defer u.mu.Unlock()
		l.ps = u.b.Client.Subscribe(u.ctx)
		signal(l.wake)
		return l.ps
	}
	names := make([]string, 0, len(l.chans))
	for name := range l.chans {
		names = append(names, name)
	}
	u.mu.Unlock()
	// A failed dial shows up in the reader, which reconnects.
	ps := u.b.Client.SSubscribe(u.ctx, names...)
	u.mu.Lock()
	if u.stopped || l.ended {
		u.mu.Unlock()
		_ = ps.Close()
		return nil
	}
	defer u.mu.Unlock()
	l.ps = ps
	for _, name := range names {
		if c := l.chans[name]; c != nil {
			c.sent = true
		} else {
			l.unsubs = append(l.unsubs, name) // released meanwhile
		}
	}
	signal(l.wake)
	return ps
}

// write sends, without holding mu, the SUBSCRIBE and UNSUBSCRIBE commands
// (or their sharded forms) that hold and release asked for, in their
// order, until the link or the upstream ends; it closes an ended link's
// connection.
func (l *link) write() {
	u := l.u
	defer u.wg.Done()
	for {
		select {
		case <-u.quit:
			return
		case <-l.wake:
		}
		u.mu.Lock()
		ps := l.ps
		if l.ended {
			l.ps = nil
			u.mu.Unlock()
			if ps != nil {
				_ = ps.Close()
			}
			return
		}
		if ps == nil || u.stopped {
			u.mu.Unlock()
			continue // connect wakes the writer again
		}
		unsubs := l.unsubs
		l.unsubs = nil
		var subs []string
		for name, c := range l.chans {
			if !c.sent {
				c.sent = true
				subs = append(subs, name)
			}
		}
		u.mu.Unlock()
		// A failure shows up in the reader, which reconnects.
		if l.slot == plainLink {
			if len(unsubs) > 0 {
				_ = ps.Unsubscribe(u.ctx, unsubs...)
			}
			if len(subs) > 0 {
				_ = ps.Subscribe(u.ctx, subs...)
			}
			continue
		}
		if len(unsubs) > 0 {
			_ = ps.SUnsubscribe(u.ctx, unsubs...)
		}
		if len(subs) > 0 {
			_ = ps.SSubscribe(u.ctx, subs...)
		}
	}
}

var errReconnect = errors.New("redisbus: PUB/SUB connection lost")

// run reads the link's connection, reconnecting with backoff until the
// link or the upstream ends.
func (l *link) run() {
	u := l.u
	defer u.wg.Done()
	backoff := minBackoff
	for {
		ps := l.connect()
		if ps == nil {
			return
		}
		got := l.receive(ps)
		u.mu.Lock()
		if l.ps == ps {
			l.ps = nil
		}
		stopped := u.stopped || l.ended
		u.mu.Unlock()
		_ = ps.Close()
		if stopped {
			return
		}
		// The node may be gone, or the slot moved: a cluster client must
		// learn where its slots went before resubscribing.
		u.b.failed(errReconnect)
		u.b.report().Error("reconnect")
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

// receive handles what arrives on ps until an error, a missing pong, or
// a shard channel of the link unsubscribed by the server. It reports
// whether anything arrived.
func (l *link) receive(ps *redis.PubSub) bool {
	u := l.u
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
			switch m.Kind {
			case "subscribe", "ssubscribe":
				u.confirm(m.Channel)
			case "sunsubscribe":
				if l.lost(m.Channel) {
					return got
				}
			}
		case *redis.Message:
			u.notify(m)
		}
	}
}

// lost reports whether a shard channel the server unsubscribed is still
// held on the link: the server pushes SUNSUBSCRIBE when the channel's slot
// moved to another node (a migration or a failover), and the link must
// reconnect to the slot's new owner.
func (l *link) lost(name string) bool {
	l.u.mu.Lock()
	defer l.u.mu.Unlock()
	c := l.chans[name]
	return c != nil && c.sent
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
