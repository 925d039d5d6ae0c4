package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pushpull/pushpull/bus"
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
	claimed bool               // a ready call is subscribing, or did
	done    chan struct{}      // closed once subscribing was tried
	sub     *nats.Subscription // set once done is closed
	err     error              // from subscribing; set once done is closed
}

// Sizes and timing of the upstream.
const (
	feedBuffer    = 1 << 16
	readyTimeout  = 10 * time.Second
	reconnectPoll = 100 * time.Millisecond
)

// hold counts a holder of the topic's announcements and starts the
// upstream goroutines on first use. It makes no call on the connection
// (whose lock a stalled server can hold), since the hub calls it under its
// own lock: ready subscribes.
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
	s = &upSub{topic: topic, subject: subject, refs: 1, done: make(chan struct{})}
	u.subs[subject] = s
	if u.stopped {
		s.claimed, s.err = true, bus.ErrClosed
		close(s.done)
		return s
	}
	if !u.started {
		u.started = true
		u.wg.Add(2)
		go u.run()
		go u.check()
	}
	return s
}

// release drops a holder and unsubscribes after the last.
func (u *upstream) release(_ string, up any) {
	s, _ := up.(*upSub)
	if s == nil {
		return
	}
	u.mu.Lock()
	s.refs--
	if s.refs > 0 || u.subs[s.subject] != s {
		u.mu.Unlock()
		return
	}
	delete(u.subs, s.subject)
	sub := s.sub // nil while subscribing: the subscriber drops it
	u.mu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
	}
}

// subscribe subscribes s, once for all its holders; the others wait for
// it, or for ctx.
func (u *upstream) subscribe(ctx context.Context, s *upSub) error {
	u.mu.Lock()
	first := !s.claimed
	s.claimed = true
	u.mu.Unlock()
	if first {
		// NATS drops what does not fit in the channel; the checker finds it.
		sub, err := u.b.Conn.ChanSubscribe(s.subject, u.ch)
		u.mu.Lock()
		s.sub, s.err = sub, err
		drop := sub != nil && (u.stopped || u.subs[s.subject] != s)
		if u.stopped && err == nil {
			s.err = bus.ErrClosed
		}
		u.mu.Unlock()
		if drop {
			_ = sub.Unsubscribe()
		}
		close(s.done)
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	u.mu.Lock()
	err := s.err
	u.mu.Unlock()
	return err
}

// ready subscribes s and makes sure the server has registered it.
func (u *upstream) ready(ctx context.Context, s *upSub) error {
	if err := u.subscribe(ctx, s); err != nil {
		if errors.Is(err, bus.ErrClosed) || ctx.Err() != nil {
			return err
		}
		u.b.brokerError("subscribe")
		return fmt.Errorf("natsbus: subscribe %s: %w", s.subject, err)
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
	u.stopped = true
	if u.quit != nil {
		close(u.quit)
		u.cancel()
	}
	var subs []*nats.Subscription
	for _, s := range u.subs {
		if s.sub != nil {
			subs = append(subs, s.sub)
		}
	}
	u.mu.Unlock()
	for _, sub := range subs {
		_ = sub.Unsubscribe()
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
	if bus.DecodeRecord(m.Data, &msg) != nil {
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
		if n != reconnects {
			u.b.brokerError("reconnect")
		}
		reconnects, last = n, time.Now()
		u.checkAll()
	}
}

// checkAll reads the top of every topic with subscribers and resyncs the
// hub with it.
func (u *upstream) checkAll() {
	u.b.hub.Each(func(t *bus.HubTopic) {
		if u.ctx.Err() != nil {
			return
		}
		v, err := u.b.look(u.ctx, t.Name())
		if err != nil || !v.known {
			return
		}
		u.b.hub.Resync(t, bus.Position{Epoch: v.epoch, Offset: v.top})
	})
}
