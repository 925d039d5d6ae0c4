package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/metrics"
)

// Subscription states, guarded by the topic's mutex.
const (
	stateLive    = iota // Deliver sends to ch without waiting
	stateLagging        // catchUp reads the history into ch
	stateEnded
)

// batchPool holds the batches of catch-up readers.
var batchPool = sync.Pool{New: func() any { s := make([]Message, 0, catchUpBatch); return &s }}

// hubSub is a subscription of a Hub.
//
// Exactly one party sends on ch at a time: Deliver while the state is live
// (under the topic's mutex), catchUp while it is lagging. Whoever is the
// sender when the subscription ends closes ch.
type hubSub struct {
	h      *Hub
	t      *HubTopic
	ch     chan Message
	epoch  string             // the epoch of every position of s; "" until the first message after Origin
	ctx    context.Context    // done when s ends; bounds history reads
	cancel context.CancelFunc //
	idx    int                // position in t.subs
	stop   func() bool        // stops the context's AfterFunc

	state    int
	sent     atomic.Uint64 // offset of the last message put on ch
	progress atomic.Uint64 // reports of the consumer's progress (Progress)
	seenSent uint64        // progress seen by Deliver while lagging
	seenProg uint64        // progress reports seen by Deliver while lagging
	seenAt   time.Time     // when Deliver last saw progress
	errMu    sync.Mutex
	err      error          // set by closeCh, just before ch closes
	endErr   error          // why it ended; guarded by the topic's mutex
	wg       sync.WaitGroup // the catchUp goroutine
}

var _ Subscription = (*hubSub)(nil)

func (s *hubSub) C() <-chan Message { return s.ch }

func (s *hubSub) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Progress records that the consumer is still making progress; see the
// package function Progress.
func (s *hubSub) Progress() { s.progress.Add(1) }

// Progress tells the broker behind sub that its consumer is making
// progress although it takes no message from C for now, because it is
// handing the messages it took on to a peer that accepts them slowly (a
// network connection that takes a few bytes at a time, say). A
// subscription of a Hub counts as stopped, and may be cut with
// ErrSlowConsumer, only when its consumer neither takes messages nor
// reports progress for the stall timeout; so a transport that reports
// each write its client accepted, even in part, keeps a slow but steady
// client subscribed while it catches up from the history. Progress does
// nothing for a subscription that cannot take the report. It is cheap (an
// atomic add) and safe to call from any goroutine.
func Progress(sub Subscription) {
	if p, ok := sub.(interface{ Progress() }); ok {
		p.Progress()
	}
}

func (s *hubSub) Close() error {
	s.end(nil)
	s.wg.Wait()
	return nil
}

// end ends s with err unless it has ended already.
func (s *hubSub) end(err error) {
	s.t.mu.Lock()
	ended := s.t.endLocked(s, err)
	s.t.mu.Unlock()
	if ended {
		s.h.Release(s.t)
	}
}

// endLocked ends s with err and reports whether it did. t.mu is held; the
// caller drops the subscriber's reference once t.mu is released.
func (t *HubTopic) endLocked(s *hubSub, err error) bool {
	if s.state == stateEnded {
		return false
	}
	last := len(t.subs) - 1
	t.subs[s.idx] = t.subs[last]
	t.subs[s.idx].idx = s.idx
	t.subs[last] = nil
	t.subs = t.subs[:last]
	if s.stop != nil {
		s.stop()
	}
	s.endErr = err
	if s.state == stateLive {
		s.closeCh()
	}
	// A lagging subscription's catchUp sees the state, or the cancelled
	// context, and closes ch.
	s.state = stateEnded
	s.cancel()
	if r := s.h.Metrics; r != nil {
		reason := endReason(err)
		if reason == metrics.ReasonExpired {
			r.Record(metrics.Event{Kind: metrics.BusCursorExpired, Transport: s.h.name(), Topic: t.name, Op: "stream"})
		}
		r.Record(metrics.Event{Kind: metrics.BusUnsubscribed, Transport: s.h.name(), Topic: t.name, Outcome: reason})
	}
	return true
}

// endReason is the reason reported to Metrics for a subscription that
// ended with err.
func endReason(err error) string {
	switch {
	case err == nil:
		return metrics.ReasonClosed
	case errors.Is(err, ErrSlowConsumer):
		return metrics.ReasonSlow
	case errors.Is(err, ErrCursorExpired):
		return metrics.ReasonExpired
	case errors.Is(err, ErrClosed):
		return metrics.ReasonShutdown
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return metrics.ReasonCanceled
	}
	return metrics.ReasonError
}

// closeCh publishes the reason of the end and closes ch, so that Err turns
// non-nil only once C reads as closed.
func (s *hubSub) closeCh() {
	s.errMu.Lock()
	s.err = s.endErr
	s.errMu.Unlock()
	close(s.ch)
}

// followsID reports whether id is the ID of the message at offset off+1 of
// epoch, without parsing it whole: the check a catch-up reader makes for
// every message it hands on. It reports false for anything else, including
// the first message after Origin, which the caller checks with ParseID.
func followsID(id, epoch string, off uint64) bool {
	if epoch == "" || len(id) <= len(epoch)+1 || id[:len(epoch)] != epoch || id[len(epoch)] != '-' {
		return false
	}
	digits := id[len(epoch)+1:]
	if len(digits) > 19 || digits[0] == '0' {
		return false
	}
	var n uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + uint64(c-'0')
	}
	return n == off+1
}

// reached reports whether a subscriber at offset off of epoch (or at Origin,
// for "") has reached top.
func reached(epoch string, off uint64, top Position) bool {
	return off >= top.Offset && (epoch == top.Epoch || epoch == "")
}

// Read retries when the server has not answered in time.
const (
	readAttempts = 5
	readPause    = 100 * time.Millisecond
)

// catchUp copies history into ch until s has caught up with the known top,
// then hands it back to Deliver.
func (s *hubSub) catchUp() {
	defer s.h.wg.Done()
	defer s.wg.Done()
	t := s.t
	empty := 0
	bp := batchPool.Get().(*[]Message)
	defer func() {
		clear((*bp)[:cap(*bp)])
		batchPool.Put(bp)
	}()
	for {
		t.mu.Lock()
		if s.state == stateEnded {
			t.mu.Unlock()
			s.closeCh()
			return
		}
		sent := s.sent.Load()
		if reached(s.epoch, sent, t.top) {
			s.state = stateLive
			t.mu.Unlock()
			return
		}
		top := t.top
		batch := t.recent.appendAfter((*bp)[:0], s.epoch, sent, catchUpBatch)
		t.mu.Unlock()

		var err error
		if len(batch) == 0 {
			batch, err = s.readRetry(batch, sent)
		}
		if batch != nil {
			*bp = batch[:0]
		}
		if err == nil && len(batch) == 0 {
			// The server has nothing after sent, yet a later message was
			// announced: it lost messages (a restart from an older
			// snapshot). Give it a moment, then report the gap.
			if empty++; empty < readAttempts {
				if !s.pause() {
					continue
				}
			} else {
				err = &CursorError{Topic: t.name, Cursor: Position{Epoch: s.epoch, Offset: sent}.ID(), Top: top.ID(), Err: ErrCursorExpired}
			}
		}
		if err != nil {
			if s.ctx.Err() != nil {
				continue // ended meanwhile: the state check closes ch
			}
			s.end(err)
			continue
		}
		if len(batch) > 0 {
			empty = 0
		}
		handed := 0
	send:
		for i := range batch {
			if !followsID(batch[i].ID, s.epoch, sent) {
				p, perr := ParseID(batch[i].ID)
				if perr != nil || !p.Follows(Position{Epoch: s.epoch, Offset: sent}) {
					s.end(&CursorError{Topic: t.name, Cursor: Position{Epoch: s.epoch, Offset: sent}.ID(), Top: top.ID(), Err: ErrCursorExpired})
					break send
				}
				// The topic's first message after Origin fixes the epoch.
				t.mu.Lock()
				s.epoch = p.Epoch
				t.mu.Unlock()
			}
			select {
			case s.ch <- batch[i]:
			default:
				select {
				case s.ch <- batch[i]:
				case <-s.ctx.Done():
				}
				if s.ctx.Err() != nil {
					break send
				}
			}
			sent++
			s.sent.Store(sent)
			handed++
		}
		if handed > 0 && s.h.Metrics != nil {
			s.h.Metrics.Record(metrics.Event{Kind: metrics.BusDelivered, Transport: s.h.name(), Topic: t.name, Outcome: pathHistory, N: int64(handed)})
		}
	}
}

// readRetry reads the history after sent, retrying errors other than cursor
// errors a few times.
func (s *hubSub) readRetry(dst []Message, sent uint64) ([]Message, error) {
	var err error
	for range readAttempts {
		var batch []Message
		batch, err = s.h.Read(s.ctx, dst, s.t.name, Position{Epoch: s.epoch, Offset: sent}, s.h.readBatch())
		if err == nil {
			return batch, nil
		}
		var ce *CursorError
		if errors.As(err, &ce) || s.ctx.Err() != nil || !s.pause() {
			return nil, err
		}
	}
	return nil, fmt.Errorf("catching up on %q: %w", s.t.name, err)
}

// pause waits a moment; it reports false when s ended meanwhile.
func (s *hubSub) pause() bool {
	timer := time.NewTimer(readPause)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}
