package pollwire

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/metrics"
)

// A Poller is what differs between the poll and the long-poll client: how
// to ask for the next answer and how long to wait after one.
type Poller interface {
	// Fetch asks for the messages after cursor ("", bus.Oldest or Latest
	// on the first request only). etag is the ETag of the previous answer.
	Fetch(ctx context.Context, cursor, etag string, first bool) (Answer, error)
	// Delay is how long to wait after a successful answer before the next
	// request.
	Delay(a Answer) time.Duration
	// BackOff returns a fresh backoff for failed requests.
	BackOff() backoff.BackOff
	// Prefix is the package name for error messages.
	Prefix() string
	// Metrics is the Recorder the subscription reports to, or nil.
	Metrics() metrics.Recorder
}

// Sub is a client subscription: one goroutine runs the request loop and
// delivers messages on a channel, checking their continuity.
type Sub struct {
	ch      chan bus.Message
	cancel  context.CancelFunc
	done    chan struct{}
	closing atomic.Bool
	mu      sync.Mutex
	err     error

	rec       metrics.Recorder // nil: no metrics
	transport string           // "poll-client", "longpoll-client"
	topic     string
}

// C implements bus.Subscription.
func (s *Sub) C() <-chan bus.Message { return s.ch }

// Err implements bus.Subscription.
func (s *Sub) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close implements bus.Subscription.
func (s *Sub) Close() error {
	s.closing.Store(true)
	s.cancel()
	<-s.done
	return nil
}

// Subscribe makes the first request before it returns, so a refused topic,
// cursor or authorization is returned here, then starts the loop. It
// retries the first request like the others while it fails for a reason
// that may pass (a network error or a status retry.Retryable accepts),
// until ctx is done. The
// subscription's channel holds buffer messages, defBuffer when buffer <= 0.
func Subscribe(ctx context.Context, p Poller, topic, after string, buffer, defBuffer int) (*Sub, error) {
	if buffer <= 0 {
		buffer = defBuffer
	}
	if err := bus.ValidateTopic(topic); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Prefix(), err)
	}
	start := after
	if after == Latest {
		start = "" // like "", any first message: the newest one, or a later one
	}
	t, err := bus.NewTracker(topic, start)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Prefix(), err)
	}
	rec := p.Metrics()
	transport := p.Prefix() + "-client"
	a, err := first(ctx, p, after)
	if err != nil {
		reportReset(rec, transport, topic, err)
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Sub{ch: make(chan bus.Message, buffer), cancel: cancel, done: make(chan struct{}), rec: rec, transport: transport, topic: topic}
	go s.run(ctx, p, t, after, a)
	return s, nil
}

func first(ctx context.Context, p Poller, after string) (Answer, error) {
	var bo backoff.BackOff
	for {
		a, err := p.Fetch(ctx, after, "", true)
		if err == nil {
			return a, nil
		}
		var fe *FetchError
		if ctx.Err() != nil || !errors.As(err, &fe) || fe.Permanent {
			return Answer{}, unwrapFetch(err)
		}
		if bo == nil {
			bo = p.BackOff()
		}
		if err := sleep(ctx, retryDelay(bo, fe)); err != nil {
			return Answer{}, fmt.Errorf("%w (last failure: %w)", err, fe.Err)
		}
	}
}

// retryDelay is the wait after a failed request (see retry.Wait).
func retryDelay(bo backoff.BackOff, fe *FetchError) time.Duration {
	return retry.Wait(bo.NextBackOff(), fe.RetryAfter)
}

func unwrapFetch(err error) error {
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe.Err
	}
	return err
}

func (s *Sub) run(ctx context.Context, p Poller, t *bus.Tracker, cursor string, a Answer) {
	var err error
	defer func() {
		s.mu.Lock()
		if !s.closing.Load() {
			s.err = err
		}
		s.mu.Unlock()
		reportReset(s.rec, s.transport, s.topic, err)
		close(s.ch)
		s.cancel()
		close(s.done)
	}()
	bo := p.BackOff()
	etag := ""
	for {
		var delay time.Duration
		if !a.NotModified {
			if err = s.deliver(ctx, t, a.Batch, p.Prefix()); err != nil {
				return
			}
			cursor = t.Cursor()
		}
		etag = a.ETag
		delay = p.Delay(a)
		bo.Reset()
		for {
			if err = sleep(ctx, delay); err != nil {
				return
			}
			var ferr error
			a, ferr = p.Fetch(ctx, cursor, etag, false)
			if ferr == nil {
				break
			}
			if ctx.Err() != nil {
				err = ctx.Err()
				return
			}
			var fe *FetchError
			if !errors.As(ferr, &fe) || fe.Permanent {
				err = unwrapFetch(ferr)
				return
			}
			delay = retryDelay(bo, fe)
		}
	}
}

// deliver sends the messages of b that t accepts, in order, dropping those
// delivered already, then moves t to b's cursor. A gap, a change of epoch
// or a cursor that skips ahead ends it with t's *bus.CursorError wrapping
// bus.ErrCursorExpired, after the messages that came before it.
func (s *Sub) deliver(ctx context.Context, t *bus.Tracker, b Batch, prefix string) error {
	for _, m := range b.Messages {
		ok, err := t.Accept(m.ID)
		if err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
		if !ok {
			continue
		}
		select {
		case s.ch <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
		if s.rec != nil {
			s.rec.Record(metrics.Event{Kind: metrics.Delivered, Transport: s.transport, Topic: s.topic, N: 1, Bytes: int64(len(m.Data))})
		}
	}
	if err := t.Reach(b.Cursor); err != nil {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	return nil
}

// reportReset reports a Reset to rec, when set, if err says the cursor
// expired.
func reportReset(rec metrics.Recorder, transport, topic string, err error) {
	if rec != nil && errors.Is(err, bus.ErrCursorExpired) {
		rec.Record(metrics.Event{Kind: metrics.Reset, Transport: transport, Topic: topic})
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// NewBackOff returns the backoff of the clients: exponential with jitter
// from lo to hi, with the given defaults for zero values.
func NewBackOff(lo, hi, defLo, defHi time.Duration) backoff.BackOff {
	if lo <= 0 {
		lo = defLo
	}
	if hi <= 0 {
		hi = defHi
	}
	return retry.NewBackOff(lo, max(lo, hi))
}

// Jitter returns d plus up to a fifth of d at random, so clients started
// together spread out.
func Jitter(d time.Duration) time.Duration { return d + jitter(d/5) }
