package bus

import (
	"sync"
	"sync/atomic"
)

// Subscription states, guarded by the topic's mutex.
const (
	stateLive    = iota // Publish sends to ch without waiting
	stateLagging        // catchUp reads the history into ch
	stateEnded
)

// memSub is a subscription of the Memory broker.
//
// Exactly one party sends on ch at a time: Publish while the state is live
// (under the topic's mutex), catchUp while it is lagging. Whoever is the
// sender when the subscription ends closes ch: endLocked for a live one,
// catchUp for a lagging one.
type memSub struct {
	b    *Memory
	t    *topic
	ch   chan Message
	done chan struct{} // closed when a lagging subscription ends; made on first lag
	idx  int           // position in t.subs
	stop func() bool   // stops the context's AfterFunc

	state    int
	sent     atomic.Uint64 // offset of the last message put on ch
	seenSent uint64        // progress seen by Publish while lagging
	seenAt   int64         // when Publish last saw progress
	errMu    sync.Mutex
	err      error          // set by closeCh, just before ch closes
	endErr   error          // why it ended; guarded by the topic's mutex
	wg       sync.WaitGroup // the catchUp goroutine
}

var batchPool = sync.Pool{New: func() any { s := make([]Message, 0, 32); return &s }}

func (s *memSub) C() <-chan Message { return s.ch }

func (s *memSub) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *memSub) Close() error {
	s.end(nil)
	s.wg.Wait()
	return nil
}

func (s *memSub) end(err error) {
	t := s.t
	t.mu.Lock()
	t.endLocked(s, err, s.b.now())
	dropped := t.dropIfUnusedLocked()
	t.mu.Unlock()
	if dropped {
		s.b.forget(t)
	}
}

// endLocked ends s with err. t.mu is held.
func (t *topic) endLocked(s *memSub, err error, now int64) {
	if s.state == stateEnded {
		return
	}
	last := len(t.subs) - 1
	t.subs[s.idx] = t.subs[last]
	t.subs[s.idx].idx = s.idx
	t.subs[last] = nil
	t.subs = t.subs[:last]
	t.active = now
	if s.stop != nil {
		s.stop()
	}
	s.endErr = err
	if s.state == stateLive {
		s.closeCh()
	} else {
		close(s.done) // catchUp closes ch
	}
	s.state = stateEnded
}

// closeCh publishes the reason of the end and closes ch, so that Err turns
// non-nil only once C reads as closed.
func (s *memSub) closeCh() {
	s.errMu.Lock()
	s.err = s.endErr
	s.errMu.Unlock()
	close(s.ch)
}

// catchUp copies history into ch until the subscription has caught up with
// the top, then hands it back to Publish.
func (s *memSub) catchUp() {
	defer s.b.wg.Done()
	defer s.wg.Done()
	bp := batchPool.Get().(*[]Message)
	defer func() {
		clear((*bp)[:cap(*bp)])
		*bp = (*bp)[:0]
		batchPool.Put(bp)
	}()
	t := s.t
	for {
		t.mu.Lock()
		if s.state == stateEnded {
			t.mu.Unlock()
			s.closeCh()
			return
		}
		s.b.expireLocked(t, s.b.now())
		sent := s.sent.Load()
		if sent == t.top {
			s.state = stateLive
			t.mu.Unlock()
			return
		}
		batch, ok := t.ring.appendAfter((*bp)[:0], sent, t.top, cap(*bp))
		if !ok {
			t.endLocked(s, ErrCursorExpired, s.b.now())
			t.mu.Unlock()
			s.closeCh()
			return
		}
		t.mu.Unlock()
		for i := range batch {
			select {
			case <-s.done:
				s.closeCh()
				return
			default:
			}
			select {
			case s.ch <- batch[i]:
				s.sent.Store(sent + uint64(i) + 1)
			case <-s.done:
				s.closeCh()
				return
			}
		}
		*bp = batch
	}
}
