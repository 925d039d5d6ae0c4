package bus

import (
	"context"
	"sort"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idleLog records the calls of a Hub's Idle.
type idleLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *idleLog) idle(topic string, up any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, topic+"="+up.(string))
}

func (l *idleLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func TestHubUpstreamPerTopic(t *testing.T) {
	h := &history{epoch: "e1"}
	log := &idleLog{}
	hb := newTestHub(h)
	hb.Idle = log.idle
	defer hb.Close()
	setups := 0
	setup := func(topic string) any { setups++; return topic + "-up" }

	a, err := hb.Acquire("t", setup)
	require.NoError(t, err)
	b, err := hb.Acquire("t", setup)
	require.NoError(t, err)
	assert.Same(t, a, b)
	assert.Equal(t, 1, setups, "one upstream per topic")
	assert.Equal(t, "t", a.Name())
	assert.Equal(t, "t-up", a.Upstream())

	hb.Release(a)
	assert.Empty(t, log.get(), "a reference is left")
	hb.Release(b)
	assert.Equal(t, []string{"t=t-up"}, log.get())

	c, err := hb.Acquire("t", setup)
	require.NoError(t, err)
	assert.NotSame(t, a, c, "a torn-down topic is made afresh")
	assert.Equal(t, 2, setups)
	hb.Release(c)
}

func TestHubEach(t *testing.T) {
	hb := newTestHub(&history{epoch: "e1"})
	defer hb.Close()
	for _, name := range []string{"a", "b", "c"} {
		tp, err := hb.Acquire(name, func(string) any { return nil })
		require.NoError(t, err)
		defer hb.Release(tp)
	}
	var names []string
	hb.Each(func(tp *HubTopic) { names = append(names, tp.Name()) })
	sort.Strings(names)
	assert.Equal(t, []string{"a", "b", "c"}, names)
}

func TestHubSubscriptionEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(hb *Hub, s Subscription, cancel context.CancelFunc)
		want error
	}{
		{"closed", func(_ *Hub, s Subscription, _ context.CancelFunc) { _ = s.Close() }, nil},
		{"context done", func(_ *Hub, _ Subscription, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"hub closed", func(hb *Hub, _ Subscription, _ context.CancelFunc) { hb.Close() }, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &history{epoch: "e1"}
				log := &idleLog{}
				hb := newTestHub(h)
				hb.Idle = log.idle
				defer hb.Close()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				tp, err := hb.Acquire("t", func(string) any { return "up" })
				require.NoError(t, err)
				s, err := hb.Join(ctx, tp, h.top(), h.top())
				require.NoError(t, err)
				tt.end(hb, s, cancel)
				for range s.C() {
				}
				if tt.want == nil {
					assert.NoError(t, s.Err())
				} else {
					assert.ErrorIs(t, s.Err(), tt.want)
				}
				require.NoError(t, s.Close(), "Close after the end")
				synctest.Wait() // the context's AfterFunc returns
				assert.Equal(t, []string{"t=up"}, log.get(), "the upstream is released once")
			})
		})
	}
}

func TestHubClosed(t *testing.T) {
	h := &history{epoch: "e1"}
	log := &idleLog{}
	hb := newTestHub(h)
	hb.Idle = log.idle
	pending, err := hb.Acquire("t", func(string) any { return "up" })
	require.NoError(t, err)
	hb.Close()

	_, err = hb.Acquire("u", func(string) any { return "up" })
	require.ErrorIs(t, err, ErrClosed)
	_, err = hb.Join(context.Background(), pending, h.top(), h.top())
	require.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, []string{"t=up"}, log.get(), "the failed Join drops the pending reference")
}

func TestHubZeroValueDefaults(t *testing.T) {
	h := &history{epoch: "e1"}
	hb := &Hub{Read: h.read}
	defer hb.Close()
	assert.Equal(t, uint64(DefaultHistorySize/2), hb.maxLag())
	assert.Equal(t, DefaultStallTimeout, hb.stallTimeout())
	s := subscribe(t, hb, h, h.top())
	assert.Equal(t, DefaultBuffer, cap(s.C()))
	feed(hb, h.add(3)...)
	assert.Equal(t, []string{"m1", "m2", "m3"}, take(t, s, 3))
}
