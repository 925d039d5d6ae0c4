package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Timeout bounds every wait of the suite for a message or an ending.
var waitTimeout = 20 * time.Second

// The history sizes the suite accepts.
const (
	minHistory = 1000
	maxProbe   = 100_000
)

// Run runs the conformance suite against brokers made by newBroker.
func Run(t *testing.T, newBroker func(tb testing.TB) bus.Broker) {
	t.Helper()
	s := &suite{newBroker: newBroker}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"RoundTrip", s.testRoundTrip},
		{"Validation", s.testValidation},
		{"TopicIsolation", s.testTopicIsolation},
		{"ConcurrentPublishersOrder", s.testConcurrentOrder},
		{"OnlyNew", s.testOnlyNew},
		{"Oldest", s.testOldest},
		{"ResumeWhilePublishing", s.testResumeWhilePublishing},
		{"Cursors", s.testCursors},
		{"HistoryBoundary", s.testHistoryBoundary},
		{"BurstCatchUp", s.testBurstCatchUp},
		{"FanOutStalledSubscriber", s.testStalled},
		{"Read", s.testRead},
		{"Top", s.testTop},
		{"Origin", s.testOrigin},
		{"Latest", s.testLatest},
		{"ContextCancel", s.testContext},
		{"SubscriptionClose", s.testSubscriptionClose},
		{"BrokerClose", s.testBrokerClose},
		{"CloseWhilePublishing", s.testCloseWhilePublishing},
		{"Churn", s.testChurn},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct {
	newBroker func(tb testing.TB) bus.Broker
}

func (s *suite) broker(t testing.TB) bus.Broker {
	t.Helper()
	b := s.newBroker(t)
	require.NotNil(t, b, "factory returned nil")
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// publish publishes n messages with data "<prefix>i" and returns them.
func publish(t testing.TB, b bus.Publisher, topic, prefix string, n int) []bus.Message {
	t.Helper()
	ctx := ctxFor(t)
	out := make([]bus.Message, 0, n)
	for i := range n {
		m, err := b.Publish(ctx, topic, bus.Message{Data: fmt.Appendf(nil, "%s%d", prefix, i)})
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

// receive takes exactly n messages from sub or fails.
func receive(t testing.TB, sub bus.Subscription, n int) []bus.Message {
	t.Helper()
	out := make([]bus.Message, 0, n)
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for len(out) < n {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended after %d of %d messages: %v", len(out), n, sub.Err())
			}
			out = append(out, m)
		case <-timer.C:
			t.Fatalf("timed out after %d of %d messages", len(out), n)
		}
	}
	return out
}

// quiet asserts that sub delivers nothing for a short while.
func quiet(t testing.TB, sub bus.Subscription) {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if ok {
			t.Fatalf("unexpected message %s %q", m.ID, m.Data)
		}
		t.Fatalf("subscription ended unexpectedly: %v", sub.Err())
	case <-time.After(50 * time.Millisecond):
	}
}

// ended drains sub until C closes and returns what it delivered.
func ended(t testing.TB, sub bus.Subscription) []bus.Message {
	t.Helper()
	var out []bus.Message
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				return out
			}
			out = append(out, m)
		case <-timer.C:
			t.Fatalf("subscription did not end")
		}
	}
}

func pos(t testing.TB, m bus.Message) bus.Position {
	t.Helper()
	p, err := bus.ParseID(m.ID)
	require.NoError(t, err, "message ID %q", m.ID)
	return p
}

// contiguous checks that msgs follow each other (and after, when given).
func contiguous(t testing.TB, after string, msgs []bus.Message) {
	t.Helper()
	var prev bus.Position
	have := false
	if after != "" && after != bus.Oldest {
		p, err := bus.ParseID(after)
		require.NoError(t, err)
		prev, have = p, true
	}
	for i, m := range msgs {
		p := pos(t, m)
		if have && !p.Follows(prev) {
			t.Fatalf("message %d: %s does not follow %s", i, m.ID, prev.ID())
		}
		prev, have = p, true
	}
}

func sameMessages(t testing.TB, want, got []bus.Message) {
	t.Helper()
	require.Equal(t, len(want), len(got), "message count")
	for i := range want {
		require.Equal(t, want[i].ID, got[i].ID, "ID of message %d", i)
		require.Equal(t, want[i].Data, got[i].Data, "data of message %d", i)
	}
}

var topicSeq atomic.Int64

// topicName returns a topic name unique within the process.
func topicName(base string) string {
	return fmt.Sprintf("bustest.%s.%d", base, topicSeq.Add(1))
}

func (s *suite) testRoundTrip(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("roundtrip")
	big := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff, '\n', '\r'}, (1<<20)/7+1)[:1<<20]
	stamp := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)
	msgs := []bus.Message{
		{},
		{Data: []byte{}},
		{Data: []byte("hello"), Type: "greeting.sent"},
		{Data: []byte{0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28}},
		{Data: big},
		{Data: []byte("with meta"), Meta: map[string]string{
			"":                 "empty key",
			"Content-Type":     "application/json",
			"odd key\n\x00é":   "odd\r\nvalue\x00",
			"ключ":             "",
			"x-dup":            "a,b;c=d",
			"\"quoted\":colon": "{\"json\":true}",
		}},
		{Data: []byte("timed"), Time: stamp},
	}
	sub, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer sub.Close()
	var published []bus.Message
	for _, m := range msgs {
		before := time.Now()
		got, err := b.Publish(ctx, topic, m)
		require.NoError(t, err)
		assert.Equal(t, topic, got.Topic)
		assert.NotEmpty(t, got.ID)
		assert.LessOrEqual(t, len(got.ID), bus.MaxIDLen)
		if m.Time.IsZero() {
			assert.WithinDuration(t, before, got.Time, time.Minute, "broker sets Time")
		} else {
			assert.WithinDuration(t, m.Time, got.Time, time.Millisecond, "broker keeps Time")
		}
		published = append(published, got)
	}
	contiguous(t, "", published)
	check := func(how string, got []bus.Message) {
		t.Helper()
		require.Len(t, got, len(msgs), how)
		for i := range msgs {
			assert.Equal(t, published[i].ID, got[i].ID, "%s: ID %d", how, i)
			assert.Equal(t, topic, got[i].Topic, "%s: topic %d", how, i)
			assert.Equal(t, msgs[i].Type, got[i].Type, "%s: type %d", how, i)
			assert.True(t, bytes.Equal(msgs[i].Data, got[i].Data), "%s: data %d differs (len %d vs %d)", how, i, len(msgs[i].Data), len(got[i].Data))
			assert.Equal(t, len(msgs[i].Meta), len(got[i].Meta), "%s: meta %d", how, i)
			for k, v := range msgs[i].Meta {
				assert.Equal(t, v, got[i].Meta[k], "%s: meta %d key %q", how, i, k)
			}
			assert.WithinDuration(t, published[i].Time, got[i].Time, time.Millisecond, "%s: time %d", how, i)
		}
	}
	check("live", receive(t, sub, len(msgs)))
	hist, err := b.Read(ctx, topic, bus.Oldest, 0)
	require.NoError(t, err)
	check("read", hist)
	replay, err := b.Subscribe(ctx, topic, bus.Oldest)
	require.NoError(t, err)
	defer replay.Close()
	check("replay", receive(t, replay, len(msgs)))
}

func (s *suite) testValidation(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	for _, topic := range []string{"", "has space", "new\nline", "nul\x00", "star*", "gt>", string(make([]byte, bus.MaxTopicLen+1))} {
		_, err := b.Publish(ctx, topic, bus.Message{})
		assert.ErrorIs(t, err, bus.ErrInvalidTopic, "Publish %q", topic)
		_, err = b.Subscribe(ctx, topic, "")
		assert.ErrorIs(t, err, bus.ErrInvalidTopic, "Subscribe %q", topic)
		_, err = b.Read(ctx, topic, "", 1)
		assert.ErrorIs(t, err, bus.ErrInvalidTopic, "Read %q", topic)
		_, err = b.Top(ctx, topic)
		assert.ErrorIs(t, err, bus.ErrInvalidTopic, "Top %q", topic)
	}
	topic := topicName("validation")
	for _, typ := range []string{"new\nline", "cr\r", "nul\x00", string(bytes.Repeat([]byte{'t'}, bus.MaxTypeLen+1))} {
		_, err := b.Publish(ctx, topic, bus.Message{Type: typ})
		assert.ErrorIs(t, err, bus.ErrInvalidMessage, "type %q", typ)
	}
	msgs, err := b.Read(ctx, topic, bus.Oldest, 0)
	require.NoError(t, err)
	assert.Empty(t, msgs, "refused messages must not be stored")
}

func (s *suite) testTopicIsolation(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	a, c := topicName("iso.a"), topicName("iso.b")
	subA, err := b.Subscribe(ctx, a, "")
	require.NoError(t, err)
	defer subA.Close()
	subC, err := b.Subscribe(ctx, c, "")
	require.NoError(t, err)
	defer subC.Close()
	wantA := publish(t, b, a, "a", 5)
	wantC := publish(t, b, c, "c", 3)
	sameMessages(t, wantA, receive(t, subA, 5))
	sameMessages(t, wantC, receive(t, subC, 3))
	quiet(t, subA)
	quiet(t, subC)
	histA, err := b.Read(ctx, a, bus.Oldest, 0)
	require.NoError(t, err)
	sameMessages(t, wantA, histA)
	// A topic's cursor is not valid on another topic.
	_, err = b.Subscribe(ctx, c, wantA[1].ID)
	if pa, pc := pos(t, wantA[1]), pos(t, wantC[0]); pa.Epoch != pc.Epoch {
		assert.ErrorIs(t, err, bus.ErrCursorExpired)
	}
}

func (s *suite) testConcurrentOrder(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("order")
	const publishers, each = 8, 100
	sub, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer sub.Close()
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	ids := make([][]string, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m, err := b.Publish(ctx, topic, bus.Message{Data: fmt.Appendf(nil, "%d:%d", p, i)})
				if err != nil {
					errs <- err
					return
				}
				ids[p] = append(ids[p], m.ID)
			}
		}()
	}
	live := receive(t, sub, publishers*each)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	contiguous(t, "", live)
	// Each publisher's messages arrive in its order, with the IDs Publish returned.
	next := make([]int, publishers)
	for _, m := range live {
		var p, i int
		_, err := fmt.Sscanf(string(m.Data), "%d:%d", &p, &i)
		require.NoError(t, err)
		require.Equal(t, next[p], i, "publisher %d out of order", p)
		require.Equal(t, ids[p][i], m.ID, "live ID differs from the one Publish returned")
		next[p]++
	}
	hist, err := b.Read(ctx, topic, bus.Oldest, 0)
	require.NoError(t, err)
	sameMessages(t, live, hist)
}

func (s *suite) testOnlyNew(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("onlynew")
	publish(t, b, topic, "old", 3)
	sub, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer sub.Close()
	want := publish(t, b, topic, "new", 2)
	sameMessages(t, want, receive(t, sub, 2))
	quiet(t, sub)
}

func (s *suite) testOldest(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("oldest")
	// Oldest on an empty topic is live from the start.
	sub0, err := b.Subscribe(ctx, topic, bus.Oldest)
	require.NoError(t, err)
	defer sub0.Close()
	want := publish(t, b, topic, "m", 10)
	sameMessages(t, want, receive(t, sub0, 10))
	sub, err := b.Subscribe(ctx, topic, bus.Oldest)
	require.NoError(t, err)
	defer sub.Close()
	sameMessages(t, want, receive(t, sub, 10))
	more := publish(t, b, topic, "more", 2)
	sameMessages(t, more, receive(t, sub, 2))
	quiet(t, sub)
}

func (s *suite) testResumeWhilePublishing(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	size, _ := historySize(t, b, topicName("resume.probe"))
	topic := topicName("resume")
	const total = 3000
	first := publish(t, b, topic, "seed", 1)
	// The publisher runs at full speed but never more than half the history
	// ahead of the consumer, so every resume is servable.
	var consumed atomic.Int64
	stop := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		defer close(pubErr)
		for i := range total - 1 {
			for int64(i)-consumed.Load() > int64(size/2) {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Microsecond):
				}
			}
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.Publish(ctx, topic, bus.Message{Data: fmt.Appendf(nil, "p%d", i)}); err != nil {
				pubErr <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		require.NoError(t, <-pubErr)
	}()
	last := first[0].ID
	var got []bus.Message
	for round := 0; len(got) < total-1; round++ {
		sub, err := b.Subscribe(ctx, topic, last)
		require.NoError(t, err, "resume %d after %s", round, last)
		n := min(1+round%37, total-1-len(got))
		batch := receive(t, sub, n)
		require.NoError(t, sub.Close())
		contiguous(t, last, batch)
		got = append(got, batch...)
		consumed.Store(int64(len(got)))
		last = batch[len(batch)-1].ID
	}
	require.Len(t, got, total-1)
	for i, m := range got {
		require.Equal(t, fmt.Sprintf("p%d", i), string(m.Data))
	}
}

func (s *suite) testCursors(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("cursors")
	msgs := publish(t, b, topic, "m", 5)
	top := pos(t, msgs[4])
	topID, err := b.Top(ctx, topic)
	require.NoError(t, err)
	require.Equal(t, msgs[4].ID, topID)

	expired := map[string]string{
		"foreign epoch": bus.Position{Epoch: "zz" + top.Epoch, Offset: 2}.ID(),
		"future":        bus.Position{Epoch: top.Epoch, Offset: top.Offset + 1}.ID(),
		"far future":    bus.Position{Epoch: top.Epoch, Offset: top.Offset + 1000}.ID(),
	}
	for name, cur := range expired {
		_, err := b.Subscribe(ctx, topic, cur)
		assert.ErrorIs(t, err, bus.ErrCursorExpired, "Subscribe %s", name)
		gotTop, ok := bus.TopOf(err)
		assert.True(t, ok, "Subscribe %s: error carries the top", name)
		assert.Equal(t, topID, gotTop, "Subscribe %s: top", name)
		_, err = b.Read(ctx, topic, cur, 10)
		assert.ErrorIs(t, err, bus.ErrCursorExpired, "Read %s", name)
		gotTop, _ = bus.TopOf(err)
		assert.Equal(t, topID, gotTop, "Read %s: top", name)
	}
	for _, cur := range []string{"garbage", "-", "-1", "a-", "a-b", "a-01", "a--1", "a-+1", "a-1.5", "é-1", "a-99999999999999999999999", "1"} {
		_, err := b.Subscribe(ctx, topic, cur)
		assert.ErrorIs(t, err, bus.ErrInvalidCursor, "Subscribe %q", cur)
		assert.NotErrorIs(t, err, bus.ErrCursorExpired, "Subscribe %q", cur)
		_, err = b.Read(ctx, topic, cur, 10)
		assert.ErrorIs(t, err, bus.ErrInvalidCursor, "Read %q", cur)
	}
	// Every cursor of the history is served whole, including the top and
	// the zero position of the epoch.
	zero := bus.Position{Epoch: top.Epoch}.ID()
	for i, cur := range append([]string{zero}, ids(msgs)...) {
		sub, err := b.Subscribe(ctx, topic, cur)
		require.NoError(t, err, "cursor %s", cur)
		sameMessages(t, msgs[i:], receive(t, sub, len(msgs)-i))
		quiet(t, sub)
		require.NoError(t, sub.Close())
	}
	// Expired cursors give no message: the topic is unchanged.
	after, err := b.Read(ctx, topic, bus.Oldest, 0)
	require.NoError(t, err)
	sameMessages(t, msgs, after)
}

func ids(msgs []bus.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// historySize publishes to a fresh topic until its first message leaves the
// history and returns how many messages the topic retains.
func historySize(t testing.TB, b bus.Broker, topic string) (int, []bus.Message) {
	t.Helper()
	ctx := ctxFor(t)
	var all []bus.Message
	step := 64
	for len(all) <= maxProbe {
		all = append(all, publish(t, b, topic, "h", step)...)
		hist, err := b.Read(ctx, topic, bus.Oldest, 1)
		require.NoError(t, err)
		require.Len(t, hist, 1)
		if hist[0].ID != all[0].ID {
			for i, m := range all {
				if m.ID == hist[0].ID {
					if n := len(all) - i; n < minHistory {
						t.Fatalf("the broker retains only %d messages per topic; the suite needs at least %d", n, minHistory)
					}
					return len(all) - i, all
				}
			}
			t.Fatalf("oldest retained message %s was never published", hist[0].ID)
		}

		step = min(step*2, 4096)
	}
	t.Fatalf("the broker retains more than %d messages per topic; configure a smaller history for the suite", maxProbe)
	return 0, nil
}

func (s *suite) testHistoryBoundary(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("boundary")
	size, all := historySize(t, b, topic)
	firstKept := len(all) - size // index of the oldest retained message
	require.Greater(t, firstKept, 0)
	hist, err := b.Read(ctx, topic, bus.Oldest, 0)
	require.NoError(t, err)
	sameMessages(t, all[firstKept:], hist)

	// The cursor just before the oldest retained message is served whole.
	ok := all[firstKept-1].ID
	sub, err := b.Subscribe(ctx, topic, ok)
	require.NoError(t, err)
	sameMessages(t, all[firstKept:firstKept+10], receive(t, sub, 10))
	require.NoError(t, sub.Close())
	page, err := b.Read(ctx, topic, ok, 3)
	require.NoError(t, err)
	sameMessages(t, all[firstKept:firstKept+3], page)

	// One earlier and the next message is gone: expired, with no partial replay.
	if firstKept >= 2 {
		gone := all[firstKept-2].ID
		_, err = b.Subscribe(ctx, topic, gone)
		require.ErrorIs(t, err, bus.ErrCursorExpired)
		top, _ := bus.TopOf(err)
		require.Equal(t, all[len(all)-1].ID, top)
		_, err = b.Read(ctx, topic, gone, 3)
		require.ErrorIs(t, err, bus.ErrCursorExpired)
	}
	// The top stays answerable: nothing new after it.
	sub, err = b.Subscribe(ctx, topic, all[len(all)-1].ID)
	require.NoError(t, err)
	quiet(t, sub)
	require.NoError(t, sub.Close())
}

func (s *suite) testBurstCatchUp(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	size, _ := historySize(t, b, topicName("burst.probe"))
	topic := topicName("burst")
	sub, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer sub.Close()
	// A burst far larger than any channel buffer while the subscriber is
	// not reading, then it reads: nothing lost, no disconnect.
	burst := max(size/4, 1)
	want := publish(t, b, topic, "b", burst)
	sameMessages(t, want, receive(t, sub, burst))
	// And it is live again afterwards.
	more := publish(t, b, topic, "after", 3)
	sameMessages(t, more, receive(t, sub, 3))
}

func (s *suite) testStalled(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	size, _ := historySize(t, b, topicName("stalled.probe"))
	topic := topicName("stalled")
	const readers = 20
	stalled, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer stalled.Close()
	type result struct {
		msgs []bus.Message
		err  error
	}
	results := make(chan result, readers)
	finish := make(chan int, readers) // the number published, once known
	var ready sync.WaitGroup
	for range readers {
		sub, err := b.Subscribe(ctx, topic, "")
		require.NoError(t, err)
		defer sub.Close()
		ready.Add(1)
		go func() {
			ready.Done()
			var r result
			want := -1
			fin := finish // read once: a second value is another reader's
			timer := time.NewTimer(3 * waitTimeout)
			defer timer.Stop()
			for want < 0 || len(r.msgs) < want {
				select {
				case m, ok := <-sub.C():
					if !ok {
						r.err = fmt.Errorf("reader ended after %d messages: %w", len(r.msgs), sub.Err())
						results <- r
						return
					}
					r.msgs = append(r.msgs, m)
				case want = <-fin:
					fin = nil
				case <-timer.C:
					r.err = fmt.Errorf("reader timed out after %d messages", len(r.msgs))
					results <- r
					return
				}
			}
			results <- r
		}()
	}
	ready.Wait()
	// A fast burst three quarters of the history deep: publishing never
	// waits for the stalled subscriber.
	want := publish(t, b, topic, "f", size*3/4)
	// Then a trickle, never reaching the end of the history, until the
	// stalled subscriber is cut.
	room := size - len(want) - 1
	every := 10 * time.Second / time.Duration(room)
	// Err turns non-nil when the subscription ends, without reading C.
	for range room {
		time.Sleep(every)
		if stalled.Err() != nil {
			break
		}
		want = append(want, publish(t, b, topic, "t", 1)...)
	}
	require.ErrorIs(t, stalled.Err(), bus.ErrSlowConsumer, "a subscriber that stopped reading is cut, after %d messages", len(want))
	queued := ended(t, stalled)
	require.NotEmpty(t, queued, "what was queued for the stalled subscriber is still delivered")
	sameMessages(t, want[:len(queued)], queued)
	for range readers {
		finish <- len(want)
	}
	for range readers {
		r := <-results
		require.NoError(t, r.err)
		sameMessages(t, want, r.msgs)
	}
	// Its position is still retained: it resumes with no gap.
	resumed, err := b.Subscribe(ctx, topic, bus.Position{Epoch: pos(t, want[0]).Epoch, Offset: pos(t, want[0]).Offset - 1}.ID())
	require.NoError(t, err, "resume after a slow-consumer cut")
	defer resumed.Close()
	sameMessages(t, want, receive(t, resumed, len(want)))
}

func (s *suite) testRead(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("read")
	none, err := b.Read(ctx, topic, "", 10)
	require.NoError(t, err)
	assert.Empty(t, none, "unknown topic")
	none, err = b.Read(ctx, topic, bus.Oldest, 10)
	require.NoError(t, err)
	assert.Empty(t, none, "unknown topic from the oldest")

	msgs := publish(t, b, topic, "r", 20)
	got, err := b.Read(ctx, topic, bus.Oldest, 0)
	require.NoError(t, err)
	sameMessages(t, msgs, got)
	got, err = b.Read(ctx, topic, bus.Oldest, 5)
	require.NoError(t, err)
	sameMessages(t, msgs[:5], got)
	got, err = b.Read(ctx, topic, msgs[4].ID, 5)
	require.NoError(t, err, "exclusive cursor")
	sameMessages(t, msgs[5:10], got)
	got, err = b.Read(ctx, topic, msgs[17].ID, 0)
	require.NoError(t, err)
	sameMessages(t, msgs[18:], got)
	got, err = b.Read(ctx, topic, msgs[19].ID, 5)
	require.NoError(t, err)
	assert.Empty(t, got, "nothing after the top")
	got, err = b.Read(ctx, topic, "", 1)
	require.NoError(t, err)
	sameMessages(t, msgs[19:], got)
	got, err = b.Read(ctx, topic, "", 3)
	require.NoError(t, err)
	sameMessages(t, msgs[17:], got)
	got, err = b.Read(ctx, topic, "", 0)
	require.NoError(t, err)
	sameMessages(t, msgs, got)
}

func (s *suite) testTop(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("top")
	zero, err := b.Top(ctx, topic)
	require.NoError(t, err)
	require.Equal(t, bus.Origin, zero, "Top of a topic with no message")
	zp, err := bus.ParseID(zero)
	require.NoError(t, err, "Origin is a valid ID")
	// Subscribing after the zero top delivers the first message.
	sub, err := b.Subscribe(ctx, topic, zero)
	require.NoError(t, err)
	defer sub.Close()
	m := publish(t, b, topic, "t", 1)
	sameMessages(t, m, receive(t, sub, 1))
	assert.True(t, pos(t, m[0]).Follows(zp), "first message follows the zero top")
	top, err := b.Top(ctx, topic)
	require.NoError(t, err)
	assert.Equal(t, m[0].ID, top)
}

// testOrigin checks the cursor of a topic that has no message: Origin is
// served while the topic's first message is retained, and cursors of a
// topic that does not exist are answered without creating it.
// testLatest checks bus.LatestCursor on the broker: for a topic with no
// message, its top; otherwise a cursor after which a subscription and a
// Read deliver the newest message first, then what follows it, also when
// the newest is the first of its epoch.
func (s *suite) testLatest(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("latest")
	cur, err := bus.LatestCursor(ctx, b, topic)
	require.NoError(t, err)
	top, err := b.Top(ctx, topic)
	require.NoError(t, err)
	assert.Equal(t, top, cur, "no message: the top")

	first := publish(t, b, topic, "l", 1)
	cur, err = bus.LatestCursor(ctx, b, topic)
	require.NoError(t, err)
	sub, err := b.Subscribe(ctx, topic, cur)
	require.NoError(t, err)
	defer sub.Close()
	sameMessages(t, first, receive(t, sub, 1))

	msgs := publish(t, b, topic, "m", 3)
	sameMessages(t, msgs, receive(t, sub, 3))
	cur, err = bus.LatestCursor(ctx, b, topic)
	require.NoError(t, err)
	later, err := b.Subscribe(ctx, topic, cur)
	require.NoError(t, err)
	defer later.Close()
	next := publish(t, b, topic, "n", 1)
	sameMessages(t, append(msgs[2:], next...), receive(t, later, 2))
	page, err := b.Read(ctx, topic, cur, 10)
	require.NoError(t, err)
	sameMessages(t, append(msgs[2:], next...), page)
}

func (s *suite) testOrigin(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("origin")
	foreign := bus.Position{Epoch: "nosuchepoch", Offset: 3}.ID()

	// A topic nobody published to: nothing to read, nothing created.
	for _, cur := range []string{"", bus.Oldest, bus.Origin} {
		msgs, err := b.Read(ctx, topic, cur, 10)
		require.NoError(t, err, "Read %q of an unknown topic", cur)
		assert.Empty(t, msgs)
	}
	_, err := b.Read(ctx, topic, foreign, 10)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	got, _ := bus.TopOf(err)
	assert.Equal(t, bus.Origin, got, "the top of an unknown topic")
	_, err = b.Subscribe(ctx, topic, foreign)
	require.ErrorIs(t, err, bus.ErrCursorExpired)
	got, _ = bus.TopOf(err)
	assert.Equal(t, bus.Origin, got)
	early, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer early.Close()
	top, err := b.Top(ctx, topic)
	require.NoError(t, err)
	require.Equal(t, bus.Origin, top, "a subscription creates no message")

	// Once the topic appears, Origin delivers it from its first message,
	// live and from the history.
	msgs := publish(t, b, topic, "o", 3)
	sameMessages(t, msgs, receive(t, early, 3))
	sub, err := b.Subscribe(ctx, topic, bus.Origin)
	require.NoError(t, err)
	sameMessages(t, msgs, receive(t, sub, 3))
	require.NoError(t, sub.Close())
	page, err := b.Read(ctx, topic, bus.Origin, 2)
	require.NoError(t, err)
	sameMessages(t, msgs[:2], page)

	// Once the first message left the history, Origin has expired.
	size, all := historySize(t, b, topicName("origin-trimmed"))
	require.Greater(t, len(all), size)
	_, err = b.Subscribe(ctx, all[0].Topic, bus.Origin)
	require.ErrorIs(t, err, bus.ErrCursorExpired, "Subscribe after Origin of a trimmed topic")
	got, _ = bus.TopOf(err)
	assert.Equal(t, all[len(all)-1].ID, got)
	_, err = b.Read(ctx, all[0].Topic, bus.Origin, 1)
	require.ErrorIs(t, err, bus.ErrCursorExpired, "Read after Origin of a trimmed topic")
}

func (s *suite) testContext(t *testing.T) {
	b := s.broker(t)
	topic := topicName("ctx")
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.Subscribe(done, topic, "")
	assert.ErrorIs(t, err, context.Canceled)
	_, err = b.Publish(done, topic, bus.Message{})
	assert.ErrorIs(t, err, context.Canceled)

	ctx, cancel := context.WithCancel(context.Background())
	sub, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	publish(t, b, topic, "c", 2)
	receive(t, sub, 2)
	cancel()
	ended(t, sub)
	assert.ErrorIs(t, sub.Err(), context.Canceled)
	require.NoError(t, sub.Close())

	// A replaying subscription ends on cancel too.
	publish(t, b, topic, "c", 200)
	ctx2, cancel2 := context.WithCancel(context.Background())
	replay, err := b.Subscribe(ctx2, topic, bus.Oldest)
	require.NoError(t, err)
	receive(t, replay, 1)
	cancel2()
	ended(t, replay)
	assert.ErrorIs(t, replay.Err(), context.Canceled)
}

func (s *suite) testSubscriptionClose(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("subclose")
	sub, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	other, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	defer other.Close()
	publish(t, b, topic, "x", 1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sub.Close()
		}()
	}
	wg.Wait()
	require.NoError(t, sub.Close(), "Close is idempotent")
	rest := ended(t, sub)
	assert.LessOrEqual(t, len(rest), 1)
	assert.NoError(t, sub.Err(), "Err after Close")
	// Closing one subscription leaves the others alone.
	want := publish(t, b, topic, "y", 3)
	got := receive(t, other, 4)
	sameMessages(t, want, got[1:])
	// A subscription closed while replaying.
	publish(t, b, topic, "z", 300)
	replay, err := b.Subscribe(ctx, topic, bus.Oldest)
	require.NoError(t, err)
	receive(t, replay, 1)
	require.NoError(t, replay.Close())
	ended(t, replay)
	assert.NoError(t, replay.Err())
}

func (s *suite) testBrokerClose(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("close")
	live, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	sent := publish(t, b, topic, "c", 300)
	sameMessages(t, sent, receive(t, live, len(sent)))
	replay, err := b.Subscribe(ctx, topic, bus.Oldest)
	require.NoError(t, err)
	receive(t, replay, 1)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = b.Close()
		}()
	}
	wg.Wait()
	require.NoError(t, b.Close(), "Close is idempotent")
	for _, sub := range []bus.Subscription{live, replay} {
		msgs := ended(t, sub)
		assert.ErrorIs(t, sub.Err(), bus.ErrClosed)
		contiguous(t, "", msgs)
		require.NoError(t, sub.Close())
	}
	_, err = b.Publish(ctx, topic, bus.Message{})
	assert.ErrorIs(t, err, bus.ErrClosed)
	_, err = b.Subscribe(ctx, topic, "")
	assert.ErrorIs(t, err, bus.ErrClosed)
	_, err = b.Read(ctx, topic, bus.Oldest, 1)
	assert.ErrorIs(t, err, bus.ErrClosed)
	_, err = b.Top(ctx, topic)
	assert.ErrorIs(t, err, bus.ErrClosed)
}

func (s *suite) testCloseWhilePublishing(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	topic := topicName("closerace")
	sub, err := b.Subscribe(ctx, topic, "")
	require.NoError(t, err)
	const publishers = 4
	errs := make(chan error, publishers)
	var started sync.WaitGroup
	for p := range publishers {
		started.Add(1)
		go func() {
			started.Done()
			for i := 0; ; i++ {
				_, err := b.Publish(ctx, topic, bus.Message{Data: fmt.Appendf(nil, "%d:%d", p, i)})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	started.Wait()
	for {
		top, err := b.Top(ctx, topic)
		require.NoError(t, err)
		if p, _ := bus.ParseID(top); p.Offset >= 100 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, b.Close())
	for range publishers {
		assert.ErrorIs(t, <-errs, bus.ErrClosed)
	}
	msgs := ended(t, sub)
	contiguous(t, "", msgs)
	// The subscriber stopped reading while publishers ran at full speed, so
	// it may have been cut or have lost its position before the Close.
	err = sub.Err()
	assert.True(t, errors.Is(err, bus.ErrClosed) || errors.Is(err, bus.ErrSlowConsumer) || errors.Is(err, bus.ErrCursorExpired), "unexpected end: %v", err)
}

func (s *suite) testChurn(t *testing.T) {
	b := s.broker(t)
	ctx := ctxFor(t)
	const topics = 2000
	base := topicName("churn")
	for i := range topics {
		topic := fmt.Sprintf("%s.%d", base, i)
		sub, err := b.Subscribe(ctx, topic, "")
		require.NoError(t, err)
		m, err := b.Publish(ctx, topic, bus.Message{Data: []byte(topic)})
		require.NoError(t, err)
		got := receive(t, sub, 1)
		require.Equal(t, m.ID, got[0].ID)
		require.Equal(t, topic, got[0].Topic)
		require.NoError(t, sub.Close())
		if i%2 == 0 {
			again, err := b.Subscribe(ctx, topic, m.ID)
			require.NoError(t, err)
			quiet0(t, again)
			require.NoError(t, again.Close())
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("churn took too long")
	}
}

// quiet0 checks that nothing is pending without waiting.
func quiet0(t testing.TB, sub bus.Subscription) {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		t.Fatalf("unexpected delivery %q (open %v): %v", m.ID, ok, sub.Err())
	default:
	}
}
