package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry"
	"github.com/pushpull/pushpull/metrics"
)

// run reads streams and reconnects until the subscription ends. resp and
// err are the outcome of the first attempt.
func (s *clientSub) run(ctx context.Context, resp *http.Response, err error) {
	defer close(s.done)
	defer close(s.ch)
	var b *backoff.ExponentialBackOff
	failures := 0
	for {
		var wait time.Duration
		if resp != nil {
			progress, ferr := s.readReported(ctx, resp)
			if ferr != nil {
				s.finish(ctx, ferr)
				return
			}
			if progress {
				failures = 0
			} else {
				failures++
			}
		} else {
			var ae *attemptError
			if errors.As(err, &ae) {
				if ae.permanent {
					s.finish(ctx, ae.err)
					return
				}
				wait = ae.wait
			}
			failures++
		}
		// The reconnection time, plus an exponential backoff with jitter
		// once connections keep failing.
		d := s.reconnectDelay()
		if failures > 1 {
			if b == nil {
				b = retry.NewBackOff(max(d, 100*time.Millisecond), s.c.maxBackoff())
			}
			d += min(b.NextBackOff(), s.c.maxBackoff())
		} else if b != nil {
			b.Reset()
		}
		d = retry.Wait(d, wait)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			s.finish(ctx, ctx.Err())
			return
		case <-t.C:
		}
		resp, err = s.connect(ctx)
	}
}

func (s *clientSub) reconnectDelay() time.Duration {
	if s.hasRetry {
		return s.retry
	}
	return s.c.retry()
}

// finish records why the subscription ended.
func (s *clientSub) finish(ctx context.Context, err error) {
	if s.closed.Load() {
		err = nil
	} else if ctx.Err() != nil {
		err = ctx.Err()
	}
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// read delivers the events of one response. It reports whether the
// connection made progress (an event arrived), and a non-nil error when the
// subscription must end; a nil error means reconnect.
func (s *clientSub) read(ctx context.Context, resp *http.Response) (progress bool, err error) {
	defer resp.Body.Close()
	p := NewParser(resp.Body)
	p.MaxEventSize = s.c.MaxEventSize
	p.emitIDOnly = true
	last := s.track.Cursor()
	p.lastID, p.idBuf = last, last // the ID buffer persists across connections
	defer func() {
		if d, ok := p.Retry(); ok {
			s.retry, s.hasRetry = d, true
		}
	}()
	for {
		ev, err := p.Next()
		if err != nil {
			var tl *EventTooLargeError
			if errors.As(err, &tl) || ctx.Err() != nil {
				return progress, err
			}
			return progress, nil // EOF or network error: reconnect
		}
		progress = true
		if err := s.event(ctx, ev); err != nil {
			return progress, err
		}
	}
}

// event checks the continuity of one event with the subscription's
// Tracker and delivers it.
func (s *clientSub) event(ctx context.Context, ev Event) error {
	if ev.idOnly {
		// The server names the top when a stream starts without a cursor.
		if _, known := s.track.Last(); !known {
			return s.track.Reach(ev.ID)
		}
		return nil
	}
	if ev.Type == ResetEvent {
		if rec := s.c.Metrics; rec != nil {
			rec.Record(metrics.Event{Kind: metrics.Reset, Transport: clientTransport, Topic: s.topic})
		}
		var body struct{ Top string }
		if json.Unmarshal([]byte(ev.Data), &body) != nil || body.Top == "" {
			body.Top = ev.ID
		}
		return fmt.Errorf("sse: server reset the stream: %w",
			&bus.CursorError{Topic: s.topic, Cursor: s.track.Cursor(), Top: body.Top, Err: bus.ErrCursorExpired})
	}
	last := s.track.Cursor()
	next, err := s.track.Accept(ev.ID)
	if err != nil {
		return fmt.Errorf("sse: after %q: %w", last, err)
	}
	if !next {
		return nil // a duplicate
	}
	m := bus.Message{Topic: s.topic, ID: ev.ID, Type: ev.Type, Data: []byte(ev.Data)}
	select {
	case s.ch <- m:
		if rec := s.c.Metrics; rec != nil {
			rec.Record(metrics.Event{Kind: metrics.Delivered, Transport: clientTransport, Topic: s.topic, N: 1, Bytes: int64(len(ev.Data))})
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
