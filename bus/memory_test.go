package bus_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemoryConformance(t *testing.T) {
	bustest.Run(t, func(testing.TB) bus.Broker { return &bus.Memory{} })
}

func TestMemoryConformanceSmall(t *testing.T) {
	bustest.Run(t, func(testing.TB) bus.Broker {
		return &bus.Memory{HistorySize: 1000, Buffer: 1, MaxLag: 8, StallTimeout: 300 * time.Millisecond}
	})
}

func TestMemoryZeroValue(t *testing.T) {
	var b bus.Memory
	defer b.Close()
	ctx := context.Background()
	m, err := b.Publish(ctx, "zero", bus.Message{Data: []byte("x")})
	require.NoError(t, err)
	got, err := b.Read(ctx, "zero", "", 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, m.ID, got[0].ID)
}

func TestMemoryFreshEpochPerInstance(t *testing.T) {
	ctx := context.Background()
	a, b := &bus.Memory{}, &bus.Memory{}
	defer a.Close()
	defer b.Close()
	ma, err := a.Publish(ctx, "t", bus.Message{})
	require.NoError(t, err)
	mb, err := b.Publish(ctx, "t", bus.Message{})
	require.NoError(t, err)
	pa, _ := ma.Position()
	pb, _ := mb.Position()
	assert.NotEqual(t, pa.Epoch, pb.Epoch)
	assert.Equal(t, pa.Offset, pb.Offset)
	// A cursor handed out by a previous process is refused, not misread.
	_, err = b.Subscribe(ctx, "t", ma.ID)
	assert.ErrorIs(t, err, bus.ErrCursorExpired)
	top, _ := bus.TopOf(err)
	assert.Equal(t, mb.ID, top)
}

func TestMemoryHistoryTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := &bus.Memory{HistoryTTL: time.Minute}
		defer b.Close()
		old, err := b.Publish(ctx, "ttl", bus.Message{Data: []byte("old")})
		require.NoError(t, err)
		time.Sleep(40 * time.Second)
		kept, err := b.Publish(ctx, "ttl", bus.Message{Data: []byte("kept")})
		require.NoError(t, err)
		time.Sleep(30 * time.Second) // old is 70 s old, kept 30 s

		msgs, err := b.Read(ctx, "ttl", bus.Oldest, 0)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		assert.Equal(t, kept.ID, msgs[0].ID)
		_, err = b.Subscribe(ctx, "ttl", bus.Position{Epoch: mustPos(t, old).Epoch}.ID())
		assert.ErrorIs(t, err, bus.ErrCursorExpired, "the first message is gone")
		sub, err := b.Subscribe(ctx, "ttl", old.ID)
		require.NoError(t, err, "the message after old is retained")
		assert.Equal(t, kept.ID, (<-sub.C()).ID)
		require.NoError(t, sub.Close())

		time.Sleep(time.Minute) // everything expired; the top outlives the data
		msgs, err = b.Read(ctx, "ttl", bus.Oldest, 0)
		require.NoError(t, err)
		assert.Empty(t, msgs)
		top, err := b.Top(ctx, "ttl")
		require.NoError(t, err)
		assert.Equal(t, kept.ID, top)
		sub, err = b.Subscribe(ctx, "ttl", kept.ID)
		require.NoError(t, err, "nothing new after the top stays answerable")
		next, err := b.Publish(ctx, "ttl", bus.Message{})
		require.NoError(t, err)
		assert.Equal(t, next.ID, (<-sub.C()).ID)
		require.NoError(t, sub.Close())
		_, err = b.Subscribe(ctx, "ttl", old.ID)
		assert.ErrorIs(t, err, bus.ErrCursorExpired)
	})
}

// Reading, asking for the top of and subscribing to topics that have no
// message leave nothing behind once the calls and subscriptions end, and
// the Origin cursor they hand out stays valid once the topic appears.
func TestMemoryUnknownTopicsLeaveNoState(t *testing.T) {
	ctx := context.Background()
	b := &bus.Memory{}
	defer b.Close()
	foreign := bus.Position{Epoch: "elsewhere", Offset: 3}.ID()
	for i := range 2000 {
		topic := fmt.Sprintf("nobody.%d", i)
		top, err := b.Top(ctx, topic)
		require.NoError(t, err)
		require.Equal(t, bus.Origin, top)
		for _, cur := range []string{"", bus.Oldest, bus.Origin} {
			msgs, err := b.Read(ctx, topic, cur, 10)
			require.NoError(t, err)
			require.Empty(t, msgs)
		}
		_, err = b.Read(ctx, topic, foreign, 10)
		require.ErrorIs(t, err, bus.ErrCursorExpired)
		got, _ := bus.TopOf(err)
		require.Equal(t, bus.Origin, got)
		_, err = b.Subscribe(ctx, topic, foreign)
		require.ErrorIs(t, err, bus.ErrCursorExpired)
		sub, err := b.Subscribe(ctx, topic, top)
		require.NoError(t, err)
		require.NoError(t, sub.Close())
		cctx, cancel := context.WithCancel(ctx)
		sub, err = b.Subscribe(cctx, topic, "")
		require.NoError(t, err)
		cancel()
		for range sub.C() {
		}
	}
	assert.Equal(t, 0, b.Topics())

	// A consumer holding Origin misses nothing once the topic appears.
	top, err := b.Top(ctx, "later")
	require.NoError(t, err)
	first, err := b.Publish(ctx, "later", bus.Message{Data: []byte("1")})
	require.NoError(t, err)
	sub, err := b.Subscribe(ctx, "later", top)
	require.NoError(t, err)
	defer sub.Close()
	assert.Equal(t, first.ID, (<-sub.C()).ID)
	assert.Equal(t, 1, b.Topics())
}

func TestMemoryReclaimsIdleTopics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := &bus.Memory{HistoryTTL: time.Minute, MetaTTL: 10 * time.Minute}
		defer b.Close()
		const topics = 3000
		var lastIDs []string
		for i := range topics {
			m, err := b.Publish(ctx, fmt.Sprintf("churn.%d", i), bus.Message{Data: []byte("x")})
			require.NoError(t, err)
			lastIDs = append(lastIDs, m.ID)
		}
		held, err := b.Subscribe(ctx, "held", "")
		require.NoError(t, err)
		require.Equal(t, topics, b.Topics(), "a subscription creates no topic")
		busy, err := b.Subscribe(ctx, "churn.5", lastIDs[5])
		require.NoError(t, err)

		// Data expired but the epoch and top are kept for MetaTTL.
		time.Sleep(5 * time.Minute)
		_, err = b.Top(ctx, "poke")
		require.NoError(t, err)
		assert.Equal(t, topics, b.Topics(), "Top of an unknown topic creates nothing")
		sub, err := b.Subscribe(ctx, "churn.7", lastIDs[7])
		require.NoError(t, err, "the top is still answerable")
		require.NoError(t, sub.Close())

		// After MetaTTL idle, empty topics without subscribers are reclaimed.
		time.Sleep(11 * time.Minute)
		_, err = b.Top(ctx, "poke")
		require.NoError(t, err)
		assert.Equal(t, 1, b.Topics(), "every idle topic is reclaimed; the subscribed one stays")
		next, err := b.Publish(ctx, "churn.5", bus.Message{})
		require.NoError(t, err)
		got := <-busy.C()
		assert.Equal(t, next.ID, got.ID)
		p5, _ := bus.ParseID(lastIDs[5])
		pn, _ := got.Position()
		assert.True(t, pn.Follows(p5), "a subscribed topic keeps its epoch")
		require.NoError(t, busy.Close())
		// A reclaimed topic starts a new epoch: old cursors are refused.
		_, err = b.Subscribe(ctx, "churn.9", lastIDs[9])
		assert.ErrorIs(t, err, bus.ErrCursorExpired)
		// The subscribed topic kept its subscriber.
		m, err := b.Publish(ctx, "held", bus.Message{})
		require.NoError(t, err)
		assert.Equal(t, m.ID, (<-held.C()).ID)
		require.NoError(t, held.Close())
	})
}

func TestMemorySlowConsumerTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := &bus.Memory{HistorySize: 100, Buffer: 2, MaxLag: 10, StallTimeout: time.Second}
		defer b.Close()
		sub, err := b.Subscribe(ctx, "slow", "")
		require.NoError(t, err)
		defer sub.Close()
		for range 30 { // far past MaxLag, but not yet stalled for StallTimeout
			_, err := b.Publish(ctx, "slow", bus.Message{})
			require.NoError(t, err)
		}
		synctest.Wait()
		assert.NoError(t, sub.Err(), "not cut before StallTimeout")
		time.Sleep(1500 * time.Millisecond)
		_, err = b.Publish(ctx, "slow", bus.Message{})
		require.NoError(t, err)
		synctest.Wait()
		assert.ErrorIs(t, sub.Err(), bus.ErrSlowConsumer)
		got := 0
		for range sub.C() {
			got++
		}
		assert.Equal(t, 2, got, "what was queued is still delivered")
	})
}

func TestMemorySlowReaderLosesPosition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := &bus.Memory{HistorySize: 50, Buffer: 1, MaxLag: 1000}
		defer b.Close()
		sub, err := b.Subscribe(ctx, "behind", "")
		require.NoError(t, err)
		defer sub.Close()
		for i := range 60 {
			_, err := b.Publish(ctx, "behind", bus.Message{})
			require.NoError(t, err)
			if i == 1 {
				synctest.Wait() // the subscriber is behind, reading the history
			}
		}
		synctest.Wait()
		// Reading on, it gets what could still be read, contiguous, and
		// then learns that its position left the history.
		var prev bus.Position
		got := 0
		for m := range sub.C() {
			p, err := m.Position()
			require.NoError(t, err)
			require.True(t, got == 0 || p.Follows(prev), "gap before %s", m.ID)
			prev = p
			got++
		}
		assert.Equal(t, 2, got)
		assert.ErrorIs(t, sub.Err(), bus.ErrCursorExpired, "its position left the history")
	})
}

func TestMemoryPublishSharesMessages(t *testing.T) {
	ctx := context.Background()
	b := &bus.Memory{Buffer: 256}
	defer b.Close()
	const subscribers = 100
	subs := make([]bus.Subscription, subscribers)
	for i := range subs {
		sub, err := b.Subscribe(ctx, "share", "")
		require.NoError(t, err)
		defer sub.Close()
		subs[i] = sub
	}
	data := []byte("shared payload")
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := b.Publish(ctx, "share", bus.Message{Data: data}); err != nil {
			panic(err)
		}
	})
	// One ID string per publish, plus the ring's occasional growth; nothing
	// per subscriber.
	assert.LessOrEqual(t, allocs, 2.0)
	m := <-subs[0].C()
	n := <-subs[99].C()
	assert.Same(t, &m.Data[0], &n.Data[0], "subscribers share the payload")
}

func mustPos(t *testing.T, m bus.Message) bus.Position {
	t.Helper()
	p, err := m.Position()
	require.NoError(t, err)
	return p
}

// TestMemoryMetaOutlivesLongHistory: with a HistoryTTL longer than MetaTTL,
// the epoch and top are still kept for MetaTTL after the last message expired.
func TestMemoryMetaOutlivesLongHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := &bus.Memory{HistoryTTL: 2 * time.Hour, MetaTTL: time.Minute}
		defer b.Close()
		m, err := b.Publish(ctx, "long", bus.Message{})
		require.NoError(t, err)
		time.Sleep(2*time.Hour + 30*time.Second) // the message expired 30 s ago
		_, err = b.Top(ctx, "poke")              // lets the broker sweep
		require.NoError(t, err)
		msgs, err := b.Read(ctx, "long", bus.Oldest, 0)
		require.NoError(t, err)
		assert.Empty(t, msgs)
		sub, err := b.Subscribe(ctx, "long", m.ID)
		require.NoError(t, err, "nothing new after the top stays answerable")
		require.NoError(t, sub.Close())

		time.Sleep(2*time.Hour + 2*time.Minute)
		_, err = b.Top(ctx, "poke")
		require.NoError(t, err)
		_, err = b.Subscribe(ctx, "long", m.ID)
		assert.ErrorIs(t, err, bus.ErrCursorExpired, "reclaimed after HistoryTTL plus MetaTTL unused")
	})
}
