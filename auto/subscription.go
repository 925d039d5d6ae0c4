package auto

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
)

// Subscription is a subscription of a Client: a bus.Subscription that also
// tells which transport carries it.
//
// Its methods are safe for concurrent use; Close may be called more than
// once.
type Subscription struct {
	c     *Client
	topic string
	ch    chan bus.Message
	done  chan struct{}
	stop  context.CancelFunc

	mu        sync.Mutex
	transport string
	switches  int
	closed    bool
	err       error

	// Owned by the run goroutine.
	tracker      *bus.Tracker
	transports   []transport
	upgradeFails int // failed upgrades and stalls since the best transport last proved itself
}

var _ bus.Subscription = (*Subscription)(nil)

// C implements bus.Subscription.
func (s *Subscription) C() <-chan bus.Message { return s.ch }

// Err implements bus.Subscription: nil after Close, the context's error,
// a *bus.CursorError when the server reset the cursor (its Top is where
// to continue), or the refusal that ended it.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close implements bus.Subscription. It returns once C is closed.
func (s *Subscription) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	<-s.done
	return nil
}

// Transport returns the name of the transport in use (WebSocket, SSE,
// LongPoll or Poll), or "" while none is open.
func (s *Subscription) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// Switches returns how many times the subscription changed transport.
func (s *Subscription) Switches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.switches
}

// Subscribe implements bus.Subscriber. It asks the Handler for its
// transports and the topic's top (so that after == "" starts at a position
// every transport shares), then opens the first transport that works before
// returning: a refused topic, cursor or authorization is its error. While
// no transport opens it tries them all again, with backoff, until ctx is
// done.
//
// The subscription then carries on over whichever transport works, as the
// package documentation describes, until ctx is done, Close is called, the
// server resets the cursor (*bus.CursorError) or refuses the topic for
// good. It is a *Subscription.
func (c *Client) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	if err := bus.ValidateTopic(topic); err != nil {
		return nil, err
	}
	tr, err := bus.NewTracker(topic, after)
	if err != nil {
		return nil, err
	}
	rctx, stop := context.WithCancel(ctx)
	s := &Subscription{c: c, topic: topic, ch: make(chan bus.Message, c.buffer()), done: make(chan struct{}), stop: stop, tracker: tr}
	act, err := s.start(rctx, after)
	if err != nil {
		stop()
		return nil, err
	}
	go s.run(rctx, ctx, act)
	return s, nil
}

// start negotiates and opens the first transport that works.
func (s *Subscription) start(ctx context.Context, after string) (*inner, error) {
	bo := retry.NewBackOff(500*time.Millisecond, 30*time.Second)
	for {
		n, err := s.c.negotiate(ctx, s.topic, after)
		if err == nil {
			s.transports = n.transports
			pin := ""
			switch {
			case after == "" && s.tracker.Cursor() == "":
				pin = n.top
			case after == bus.Latest && s.tracker.Cursor() == bus.Latest && n.latest != "":
				// Every transport starts after the same newest message.
				pin = n.latest
			}
			if pin != "" {
				if err := s.tracker.Reach(pin); err != nil {
					return nil, fmt.Errorf("auto: negotiate: %w", err)
				}
			}
			var act *inner
			act, err = s.openFrom(ctx, 0)
			if err == nil {
				return act, nil
			}
		}
		if fatal(err) || ctx.Err() != nil {
			return nil, err
		}
		s.c.logger().Debug("auto: no transport opened, retrying", "topic", s.topic, "err", err)
		if serr := sleep(ctx, bo.NextBackOff()); serr != nil {
			return nil, fmt.Errorf("auto: subscribe %q: %w (last failure: %w)", s.topic, serr, err)
		}
	}
}

// fatal reports whether err ends a subscription rather than send it to
// another transport: a reset, an invalid cursor or topic, or a refusal of
// the negotiate route, which asks Authorize.
func fatal(err error) bool {
	var se *StatusError
	switch {
	case errors.Is(err, bus.ErrCursorExpired):
		_, ok := bus.TopOf(err)
		return ok
	case errors.Is(err, bus.ErrInvalidCursor), errors.Is(err, bus.ErrInvalidTopic):
		return true
	case errors.As(err, &se):
		return !se.Temporary()
	}
	return false
}

// inner is one transport's subscription.
type inner struct {
	t      transport
	idx    int
	sub    bus.Subscription
	cancel context.CancelFunc
}

func (in *inner) close() {
	in.sub.Close()
	in.cancel()
}

// open opens transport idx after cursor within ConnectTimeout.
func (s *Subscription) open(ctx context.Context, idx int, cursor string) (*inner, error) {
	t := s.transports[idx]
	ictx, cancel := context.WithCancel(ctx)
	type result struct {
		sub bus.Subscription
		err error
	}
	ch := make(chan result, 1)
	go func() {
		sub, err := opener(t.name)(ictx, s.c, t.url, s.topic, cursor)
		ch <- result{sub, err}
	}()
	timer := time.NewTimer(s.c.connectTimeout())
	defer timer.Stop()
	var r result
	select {
	case r = <-ch:
	case <-timer.C:
		cancel()
		r = <-ch
		if r.sub != nil {
			r.sub.Close()
		}
		r.err = fmt.Errorf("%w: %s within %v", ErrConnectTimeout, t.name, s.c.connectTimeout())
	}
	if r.err != nil {
		cancel()
		return nil, r.err
	}
	return &inner{t: t, idx: idx, sub: r.sub, cancel: cancel}, nil
}

// openFrom opens the first transport from idx on that works.
func (s *Subscription) openFrom(ctx context.Context, idx int) (*inner, error) {
	err := fmt.Errorf("%w: none left to try", ErrNoTransport)
	for i := idx; i < len(s.transports); i++ {
		var act *inner
		act, err = s.open(ctx, i, s.tracker.Cursor())
		if err == nil {
			s.setTransport(act.t.name, nil)
			return act, nil
		}
		if fatal(err) || ctx.Err() != nil {
			return nil, err
		}
		s.c.logger().Debug("auto: transport failed", "topic", s.topic, "transport", s.transports[i].name, "err", err)
	}
	return nil, err
}

func (s *Subscription) setTransport(name string, reason error) {
	s.mu.Lock()
	from := s.transport
	if from != "" && from != name {
		s.switches++
	}
	s.transport = name
	s.mu.Unlock()
	if from != "" && from != name {
		s.c.logger().Info("auto: transport switched", "topic", s.topic, "from", from, "to", name, "reason", reason)
	}
}

// run keeps the subscription on a working transport until it ends.
func (s *Subscription) run(ctx, parent context.Context, act *inner) {
	var err error
	bo := retry.NewBackOff(500*time.Millisecond, 30*time.Second)
	for {
		var next int
		act, next, err = s.pump(ctx, act)
		if act != nil {
			continue // upgraded
		}
		if fatal(err) || ctx.Err() != nil {
			break
		}
		s.c.logger().Debug("auto: leaving transport", "topic", s.topic, "err", err)
		for act == nil && ctx.Err() == nil {
			act, err = s.openFrom(ctx, next)
			if act != nil || fatal(err) {
				break
			}
			// Every transport failed: wait, ask again, start over.
			next = 0
			if serr := sleep(ctx, bo.NextBackOff()); serr != nil {
				break
			}
			if n, nerr := s.c.negotiate(ctx, s.topic); nerr == nil {
				s.transports = n.transports
			} else if fatal(nerr) {
				err = nerr
				break
			}
		}
		if act == nil {
			break
		}
		bo.Reset()
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.err = nil
	case parent.Err() != nil:
		s.err = parent.Err()
	default:
		s.err = err
	}
	s.transport = ""
	s.mu.Unlock()
	close(s.ch)
	close(s.done)
}

// candidate is the result of opening a better transport in the
// background.
type candidate struct {
	in  *inner
	err error
}

// pump delivers act's messages, probes it, and tries better transports. It
// returns the next transport to use when an upgrade succeeded, or nil, the
// index to fall back to and why act was left.
func (s *Subscription) pump(ctx context.Context, act *inner) (*inner, int, error) {
	probe := time.NewTimer(s.c.probeInterval())
	defer probe.Stop()
	probing, progress := false, false
	// A transport opened behind the top must prove itself at once.
	if s.pending(ctx) {
		probing = true
		probe.Reset(s.c.probeTimeout())
	}

	upgrade := time.NewTimer(s.upgradeWait())
	defer upgrade.Stop()
	if act.idx == 0 {
		upgrade.Stop()
	}
	var (
		cands   chan candidate
		cand    *inner
		candC   <-chan bus.Message
		proving = time.NewTimer(0)
	)
	proving.Stop()
	defer proving.Stop()
	candFailed := func(err error) {
		if cand != nil {
			cand.close()
			cand, candC = nil, nil
		}
		s.c.logger().Debug("auto: upgrade failed", "topic", s.topic, "err", err)
		s.upgradeFails++
		upgrade.Reset(s.upgradeWait())
	}
	leave := func(next *inner, idx int, err error) (*inner, int, error) {
		act.close()
		if cand != nil && cand != next {
			cand.close()
		}
		if cands != nil {
			if r := <-cands; r.in != nil {
				r.in.close()
			}
		}
		return next, idx, err
	}
	promote := func() (*inner, int, error) {
		next := cand
		cand = nil
		s.setTransport(next.t.name, errors.New("upgrade"))
		return leave(next, 0, nil)
	}

	for {
		select {
		case <-ctx.Done():
			return leave(nil, 0, ctx.Err())

		case m, ok := <-act.sub.C():
			if !ok {
				err := act.sub.Err()
				if err == nil {
					err = errors.New("auto: transport ended")
				}
				return leave(nil, act.idx+1, fmt.Errorf("auto: %s: %w", act.t.name, err))
			}
			if err := s.deliver(ctx, m); err != nil {
				return leave(nil, act.idx+1, err)
			}
			progress = true
			if !probing {
				probe.Reset(s.c.probeInterval())
			}

		case <-probe.C:
			if probing && !progress {
				s.upgradeFails++
				return leave(nil, act.idx+1, fmt.Errorf("%w: %s", ErrStalled, act.t.name))
			}
			if probing && act.idx == 0 {
				s.upgradeFails = 0 // the best transport delivered what was pending
			}
			progress = false
			probing = s.pending(ctx)
			if probing {
				probe.Reset(s.c.probeTimeout())
			} else {
				probe.Reset(s.c.probeInterval())
			}

		case <-upgrade.C:
			cands = make(chan candidate, 1)
			go func(limit int, cursor string) {
				var r candidate
				for i := 0; i < limit; i++ {
					r.in, r.err = s.open(ctx, i, cursor)
					if r.err == nil {
						break
					}
				}
				cands <- r
			}(act.idx, s.tracker.Cursor())

		case r := <-cands:
			cands = nil
			if r.err != nil {
				candFailed(r.err)
				continue
			}
			cand, candC = r.in, r.in.sub.C()
			if !s.pending(ctx) {
				return promote()
			}
			proving.Reset(s.c.probeTimeout())

		case m, ok := <-candC:
			if !ok {
				candFailed(cand.sub.Err())
				continue
			}
			if err := s.deliver(ctx, m); err != nil {
				candFailed(err)
				continue
			}
			return promote()

		case <-proving.C:
			if cand != nil {
				candFailed(fmt.Errorf("%w: %s", ErrStalled, cand.t.name))
			}
		}
	}
}

// upgradeWait is the wait before the next upgrade attempt: UpgradeInterval,
// doubled after each failure, up to maxUpgradeBackoff times as long.
func (s *Subscription) upgradeWait() time.Duration {
	d := s.c.upgradeInterval()
	return min(d<<min(s.upgradeFails, 16), d*maxUpgradeBackoff)
}

// deliver passes m on when the Tracker accepts it.
func (s *Subscription) deliver(ctx context.Context, m bus.Message) error {
	ok, err := s.tracker.Accept(m.ID)
	if err != nil || !ok {
		return err
	}
	select {
	case s.ch <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pending asks the server for the topic's top and reports whether it lies
// beyond the last message delivered. A failed request reports false: the
// transport's own errors will tell.
func (s *Subscription) pending(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, s.c.probeTimeout())
	defer cancel()
	n, err := s.c.negotiate(pctx, s.topic)
	if err != nil {
		return false
	}
	top, err := bus.ParseID(n.top)
	if err != nil {
		return false
	}
	last, known := s.tracker.Last()
	if !known {
		return !top.IsZero()
	}
	return top.Epoch != last.Epoch || top.Offset > last.Offset
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
