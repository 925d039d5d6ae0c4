package pollwire

import (
	"context"
	"github.com/pushpull/pushpull/metrics"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// script answers each Fetch with the next batch, then with nothing new for
// ever; it records the cursors it was asked after and closes drained on
// the first request it has no batch for.
type script struct {
	mu      sync.Mutex
	batches []Batch
	asked   []string
	drained chan struct{}
	once    sync.Once
}

func (s *script) Fetch(_ context.Context, cursor, _ string, _ bool) (Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, cursor)
	if len(s.batches) == 0 {
		s.once.Do(func() { close(s.drained) })
		return Answer{NotModified: true}, nil
	}
	b := s.batches[0]
	s.batches = s.batches[1:]
	return Answer{Batch: b}, nil
}

func (s *script) Delay(a Answer) time.Duration {
	if a.NotModified {
		return time.Hour
	}
	return 0
}
func (*script) BackOff() backoff.BackOff { return &backoff.ZeroBackOff{} }
func (*script) Prefix() string           { return "test" }

func (*script) Metrics() metrics.Recorder { return nil }

func (s *script) cursors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

func batch(cursor string, ids ...string) Batch {
	b := Batch{Cursor: cursor}
	for _, id := range ids {
		b.Messages = append(b.Messages, bus.Message{ID: id})
	}
	return b
}

// The request loop delivers each message once, in order, asks after the
// last one, and ends with a *bus.CursorError wrapping bus.ErrCursorExpired
// on a gap rather than skip it.
func TestSubscribeContinuity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		after   string
		batches []Batch
		want    []string
		asked   []string // the cursors of the requests, once all batches are read
		expired bool
	}{
		{"new: the first answer sets the position", "", []Batch{batch("e-4"), batch("e-5", "e-5")}, []string{"e-5"}, []string{"", "e-4", "e-5"}, false},
		{"oldest: any first message", bus.Oldest, []Batch{batch("e-6", "e-5", "e-6")}, []string{"e-5", "e-6"}, []string{bus.Oldest, "e-6"}, false},
		{"duplicates dropped", "e-3", []Batch{batch("e-5", "e-4", "e-5"), batch("e-6", "e-4", "e-5", "e-6")}, []string{"e-4", "e-5", "e-6"}, []string{"e-3", "e-5", "e-6"}, false},
		{"stale cursor ignored", "e-5", []Batch{batch("e-3"), batch("e-6", "e-6")}, []string{"e-6"}, []string{"e-5", "e-5", "e-6"}, false},
		{"gap after what came before", "e-4", []Batch{batch("e-7", "e-5", "e-7")}, []string{"e-5"}, nil, true},
		{"cursor skips ahead", "e-4", []Batch{batch("e-9")}, nil, nil, true},
		{"other epoch", "e-4", []Batch{batch("f-5", "f-5")}, nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := &script{batches: tc.batches, drained: make(chan struct{})}
			s, err := Subscribe(t.Context(), sc, "t", tc.after, 0, 16)
			require.NoError(t, err)
			var got []string
			for len(got) < len(tc.want) {
				got = append(got, (<-s.C()).ID)
			}
			assert.Equal(t, tc.want, got)
			if tc.expired {
				select {
				case _, open := <-s.C():
					assert.False(t, open)
				case <-sc.drained:
					t.Fatal("the subscription went on after the gap")
				}
				assert.ErrorIs(t, s.Err(), bus.ErrCursorExpired)
				var ce *bus.CursorError
				require.ErrorAs(t, s.Err(), &ce)
				assert.Equal(t, "t", ce.Topic)
				return
			}
			<-sc.drained
			require.NoError(t, s.Close())
			assert.Equal(t, tc.asked, sc.cursors())
			assert.NoError(t, s.Err())
		})
	}
}
