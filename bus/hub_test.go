package bus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// history is a fake server history for hub tests: the messages of one
// epoch, offsets 1..len(msgs).
type history struct {
	mu    sync.Mutex
	epoch string
	msgs  []Message
}

func (h *history) add(n int) []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Message
	for range n {
		p := Position{Epoch: h.epoch, Offset: uint64(len(h.msgs) + 1)}
		m := Message{Topic: "t", ID: p.ID(), Data: fmt.Appendf(nil, "m%d", p.Offset)}
		h.msgs = append(h.msgs, m)
		out = append(out, m)
	}
	return out
}

func (h *history) top() Position {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Position{Epoch: h.epoch, Offset: uint64(len(h.msgs))}
}

func (h *history) read(_ context.Context, dst []Message, topic string, after Position, limit int) ([]Message, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	top := Position{Epoch: h.epoch, Offset: uint64(len(h.msgs))}
	if after.Epoch != h.epoch || after.Offset > top.Offset {
		return nil, &CursorError{Topic: topic, Cursor: after.ID(), Top: top.ID(), Err: ErrCursorExpired}
	}
	rest := h.msgs[after.Offset:]
	return append(dst, rest[:min(limit, len(rest))]...), nil
}

func newTestHub(h *history) *Hub {
	return &Hub{Buffer: 1, MaxLag: 4, StallTimeout: time.Second, Read: h.read}
}

func feed(hb *Hub, msgs ...Message) {
	for _, m := range msgs {
		p, _ := ParseID(m.ID)
		hb.Deliver(m.Topic, m, p)
	}
}

func subscribe(t *testing.T, hb *Hub, h *history, from Position) Subscription {
	t.Helper()
	tp, err := hb.Acquire("t", func(string) any { return nil })
	require.NoError(t, err)
	s, err := hb.Join(context.Background(), tp, from, h.top())
	require.NoError(t, err)
	return s
}

func take(t *testing.T, s Subscription, n int) []string {
	t.Helper()
	var out []string
	for range n {
		m, ok := <-s.C()
		require.True(t, ok, "ended after %v: %v", out, s.Err())
		out = append(out, string(m.Data))
	}
	return out
}

func TestHubFillsGapsFromHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &history{epoch: "e1"}
		hb := newTestHub(h)
		defer hb.Close()
		s := subscribe(t, hb, h, h.top())
		msgs := h.add(4)
		feed(hb, msgs[0])
		assert.Equal(t, []string{"m1"}, take(t, s, 1))
		feed(hb, msgs[3]) // 2 and 3 were lost on the way
		assert.Equal(t, []string{"m2", "m3", "m4"}, take(t, s, 3))
		// Lost at the end: only a resync tells.
		more := h.add(2)
		feed(hb, more[0])
		assert.Equal(t, []string{"m5"}, take(t, s, 1))
		hb.Resync(hb.lookup("t"), h.top())
		assert.Equal(t, []string{"m6"}, take(t, s, 1))
		synctest.Wait()
		select {
		case m := <-s.C():
			t.Fatalf("unexpected %q", m.Data)
		default:
		}
	})
}

func TestHubCutsStalledSubscriber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &history{epoch: "e1"}
		hb := newTestHub(h)
		defer hb.Close()
		s := subscribe(t, hb, h, h.top())
		feed(hb, h.add(10)...) // far beyond the buffer and maxLag
		synctest.Wait()
		time.Sleep(900 * time.Millisecond)
		feed(hb, h.add(1)...)
		synctest.Wait()
		assert.NoError(t, s.Err(), "not cut before the stall timeout")
		time.Sleep(200 * time.Millisecond)
		feed(hb, h.add(1)...)
		synctest.Wait()
		require.ErrorIs(t, s.Err(), ErrSlowConsumer)
		// What was queued is still delivered, then the channel closes.
		got := 0
		for range s.C() {
			got++
		}
		assert.Equal(t, 1, got)
	})
}

// A consumer that takes no message for longer than the stall timeout but
// reports progress (it is writing what it took to a slow peer) is not cut;
// once it reports nothing more it is.
func TestHubProgressKeepsSubscriber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &history{epoch: "e1"}
		hb := newTestHub(h)
		defer hb.Close()
		s := subscribe(t, hb, h, h.top())
		feed(hb, h.add(10)...) // far beyond the buffer and maxLag
		synctest.Wait()
		for range 10 { // 5s, five times the stall timeout
			time.Sleep(500 * time.Millisecond)
			Progress(s)
			feed(hb, h.add(1)...)
			synctest.Wait()
		}
		require.NoError(t, s.Err(), "a consumer reporting progress is not cut")
		time.Sleep(1100 * time.Millisecond)
		feed(hb, h.add(1)...)
		synctest.Wait()
		require.ErrorIs(t, s.Err(), ErrSlowConsumer, "cut once the reports stop")
		got := 0
		for range s.C() {
			got++
		}
		assert.Equal(t, 1, got)
	})
}

// Progress ignores subscriptions that cannot take the report.
func TestProgressOtherSubscription(t *testing.T) {
	Progress(nil)
	Progress(otherSub{})
}

type otherSub struct{}

func (otherSub) C() <-chan Message { return nil }
func (otherSub) Err() error        { return nil }
func (otherSub) Close() error      { return nil }

func TestHubReaderKeepsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &history{epoch: "e1"}
		hb := newTestHub(h)
		defer hb.Close()
		s := subscribe(t, hb, h, h.top())
		done := make(chan []string)
		go func() {
			var got []string
			for m := range s.C() {
				got = append(got, string(m.Data))
				if len(got) == 300 {
					break
				}
			}
			done <- got
		}()
		for range 300 {
			feed(hb, h.add(1)...)
			time.Sleep(10 * time.Millisecond)
		}
		got := <-done
		require.Len(t, got, 300)
		assert.Equal(t, "m300", got[299])
		assert.NoError(t, s.Err())
	})
}

func TestHubNewEpochEndsSubscriber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &history{epoch: "e1"}
		hb := newTestHub(h)
		defer hb.Close()
		feed(hb, h.add(2)...)
		s := subscribe(t, hb, h, h.top())
		h.mu.Lock()
		h.epoch, h.msgs = "e2", nil // flushed
		h.mu.Unlock()
		feed(hb, h.add(1)...)
		for range s.C() {
		}
		require.ErrorIs(t, s.Err(), ErrCursorExpired)
		top, _ := TopOf(s.Err())
		assert.Equal(t, "e2-1", top)
	})
}

func TestHubReportsLostHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &history{epoch: "e1"}
		hb := newTestHub(h)
		defer hb.Close()
		s := subscribe(t, hb, h, h.top())
		// Announced, but the server forgot it (restored from an older
		// snapshot with the same epoch).
		m := Message{Topic: "t", ID: "e1-2", Data: []byte("m2")}
		feed(hb, m)
		for range s.C() {
		}
		require.ErrorIs(t, s.Err(), ErrCursorExpired)
	})
}

func TestHubStalled(t *testing.T) {
	now := time.Now()
	long := now.Add(-time.Hour) // well past the stall timeout
	for _, tc := range []struct {
		name   string
		sent   uint64
		seenAt time.Time
		full   bool
		want   bool
	}{
		{"far behind, stopped", 3, long, true, true},
		{"far behind, just stopped", 3, now, true, false},
		{"far behind, channel not full", 3, long, false, false},
		{"far behind, progress reported", 3, long, true, false},
		{"within the lag", 8, long, true, false},
		{"at the top", 10, long, true, false},
		{"past the announced top", 12, long, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hb := &Hub{MaxLag: 4, StallTimeout: time.Second}
			tp := &HubTopic{name: "t", top: Position{Epoch: "e", Offset: 10}, known: true}
			s := &hubSub{ch: make(chan Message, 1), epoch: "e", state: stateLagging}
			if tc.full {
				s.ch <- Message{}
			}
			s.sent.Store(tc.sent)
			s.seenSent, s.seenAt = tc.sent, tc.seenAt
			if tc.name == "far behind, progress reported" {
				s.Progress()
			}
			assert.Equal(t, tc.want, hb.stalledLocked(tp, s, now))
		})
	}
}
