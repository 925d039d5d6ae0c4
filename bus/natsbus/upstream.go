package natsbus

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/fanout"
	"github.com/pushpull/pushpull/internal/record"
)

// The upstream of a Broker: one core NATS subscription per topic with
// subscribers in this process, on the subject where the stream republishes
// what it stored, all feeding one channel read by one goroutine; and a
// checker goroutine that compares the topics' tops with what was announced.
//
// Republished messages are delivered at most once: they are lost while the
// connection is down, or when this process reads too slowly. The upstream
// never relies on them: a reconnection triggers a check, and the checker
// runs every CheckInterval anyway. A check that finds a top beyond what
// subscribers received sends them to the history, which proves continuity.
type upstream struct {
	b *Broker

	mu      sync.Mutex
	subs    map[string]*upSub // by live subject
	ch      chan *nats.Msg
	started bool
	stopped bool
	quit    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// upSub is one topic's subscription.
type upSub struct {
	topic   string
	subject string
	refs    int
	sub     *nats.Subscription
	err     error // from subscribing
}

// Sizes and timing of the upstream.
const (
	feedBuffer    = 1 << 16
	readyTimeout  = 10 * time.Second
	reconnectPoll = 100 * time.Millisecond
)

// hold subscribes this process to the topic's announcements, counting
// holders, and starts the upstream goroutines on first use.
func (u *upstream) hold(topic string) *upSub {
	subject := u.b.live(topic)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.subs == nil {
		u.subs = make(map[string]*upSub)
		u.ch = make(chan *nats.Msg, feedBuffer)
		u.quit = make(chan struct{})
		u.ctx, u.cancel = context.WithCancel(context.Background())
	}
	s := u.subs[subject]
	if s != nil {
		s.refs++
		return s
	}
	s = &upSub{topic: topic, subject: subject, refs: 1}
	u.subs[subject] = s
	if u.stopped {
		s.err = bus.ErrClosed
		return s
	}
	if !u.started {
		u.started = true
		u.wg.Add(2)
		go u.run()
		go u.check()
	}
	// NATS drops what does not fit in the channel; the checker finds it.
	s.sub, s.err = u.b.Conn.ChanSubscribe(subject, u.ch)
	return s
}

// release drops a holder and unsubscribes after the last.
func (u *upstream) release(_ string, up any) {
	s, _ := up.(*upSub)
	if s == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s.refs--
	if s.refs > 0 || u.subs[s.subject] != s {
		return
	}
	delete(u.subs, s.subject)
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
}

// ready makes sure the server has registered the subscription of s.
func (u *upstream) ready(ctx context.Context, s *upSub) error {
	if s.err != nil {
		return fmt.Errorf("natsbus: subscribe %s: %w", s.subject, s.err)
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := u.b.Conn.FlushWithContext(ctx); err != nil {
		if u.b.isClosed() {
			return bus.ErrClosed
		}
		return fmt.Errorf("natsbus: subscribe %s: %w", s.subject, err)
	}
	return nil
}

// stop makes the goroutines end and drops the subscriptions; wait waits
// for the goroutines.
func (u *upstream) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopped = true
	if u.quit != nil {
		close(u.quit)
		u.cancel()
	}
	for _, s := range u.subs {
		if s.sub != nil {
			_ = s.sub.Unsubscribe()
		}
	}
}

func (u *upstream) wait() { u.wg.Wait() }

// run hands announcements to the hub until stop.
func (u *upstream) run() {
	defer u.wg.Done()
	for {
		select {
		case <-u.quit:
			return
		case m := <-u.ch:
			u.notify(m)
		}
	}
}

// notify hands a republished message to the hub.
func (u *upstream) notify(m *nats.Msg) {
	u.mu.Lock()
	s := u.subs[m.Subject]
	u.mu.Unlock()
	if s == nil {
		return
	}
	epoch := m.Header.Get(hdrEpoch)
	off, err := strconv.ParseUint(m.Header.Get(hdrOffset), 10, 64)
	if err != nil || off == 0 || !bus.ValidEpoch(epoch) {
		return // a marker, or not ours
	}
	p := bus.Position{Epoch: epoch, Offset: off}
	msg := bus.Message{Topic: s.topic, ID: p.ID()}
	if record.Decode(m.Data, &msg) != nil {
		return
	}
	u.b.hub.Deliver(s.topic, msg, p)
}

// check compares tops every CheckInterval, and soon after a reconnection.
func (u *upstream) check() {
	defer u.wg.Done()
	every := u.b.checkInterval()
	poll := time.NewTicker(min(reconnectPoll, every))
	defer poll.Stop()
	reconnects := u.b.Conn.Stats().Reconnects
	last := time.Now()
	for {
		select {
		case <-u.quit:
			return
		case <-poll.C:
		}
		n := u.b.Conn.Stats().Reconnects
		if n == reconnects && time.Since(last) < every {
			continue
		}
		reconnects, last = n, time.Now()
		u.checkAll()
	}
}

// checkAll reads the top of every topic with subscribers and resyncs the
// hub with it.
func (u *upstream) checkAll() {
	u.b.hub.Each(func(t *fanout.Topic) {
		if u.ctx.Err() != nil {
			return
		}
		v, err := u.b.look(u.ctx, t.Name(), false)
		if err != nil || !v.known {
			return
		}
		u.b.hub.Resync(t, v.topPos())
	})
}
