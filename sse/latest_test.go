package sse

import (
	"bufio"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/bus"
)

// last_event_id=latest starts a stream with the topic's newest message,
// after an id line that lets a client reconnecting before it arrives get
// it again; a topic with no message starts at its top. The Client takes
// bus.Latest the same way, then resumes from real IDs.
func TestHandlerLatest(t *testing.T) { modes(t, latest) }

func latest(t *testing.T, disableHijack bool) {
	t.Parallel()
	b := &bus.Memory{}
	defer b.Close()
	srv := serve(t, &Handler{Broker: b, Retry: -1, DisableHijack: disableHijack})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	get := func(topic string) *bufio.Reader {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events/"+topic+"?last_event_id=latest", nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return bufio.NewReader(resp.Body)
	}
	empty := get("empty")
	assert.Equal(t, ":ok\n\nid: "+bus.Origin+"\n\n", readUntil(t, empty, "id: "+bus.Origin+"\n\n"))
	m := publish(t, b, "empty", bus.Message{Data: []byte("first")})
	assert.Equal(t, "id: "+m[0].ID+"\ndata: first\n\n", readUntil(t, empty, "data: first\n\n"))

	ms := publish(t, b, "q", bus.Message{Data: []byte("1")}, bus.Message{Data: []byte("2")}, bus.Message{Data: []byte("3")})
	r := get("q")
	got := readUntil(t, r, "data: 3\n\n")
	p, err := bus.ParseID(ms[2].ID)
	require.NoError(t, err)
	before := bus.Position{Epoch: p.Epoch, Offset: p.Offset - 1}.ID()
	assert.Equal(t, ":ok\n\nid: "+before+"\n\nid: "+ms[2].ID+"\ndata: 3\n\n", got, "the newest only")
	next := publish(t, b, "q", bus.Message{Data: []byte("4")})
	assert.Equal(t, "id: "+next[0].ID+"\ndata: 4\n\n", readUntil(t, r, "data: 4\n\n"))

	c := &Client{URL: srv.URL + "/events/{topic}"}
	sub, err := c.Subscribe(ctx, "q", bus.Latest)
	require.NoError(t, err)
	defer sub.Close()
	select {
	case m := <-sub.C():
		assert.Equal(t, next[0].ID, m.ID, "the Client starts with the newest")
	case <-ctx.Done():
		t.Fatal("nothing received")
	}
	last := publish(t, b, "q", bus.Message{Data: []byte("5")})
	select {
	case m := <-sub.C():
		assert.Equal(t, last[0].ID, m.ID)
	case <-ctx.Done():
		t.Fatal("nothing received")
	}
}

// trimOnce publishes one message before the first Subscribe it passes on,
// so that with HistorySize 1 the newest message LatestCursor found is
// gone by then.
type trimOnce struct {
	*bus.Memory
	done bool
}

func (b *trimOnce) Subscribe(ctx context.Context, topic, after string) (bus.Subscription, error) {
	if !b.done {
		b.done = true
		if _, err := b.Memory.Publish(ctx, topic, bus.Message{Data: []byte("newer")}); err != nil {
			return nil, err
		}
	}
	return b.Memory.Subscribe(ctx, topic, after)
}

// When the newest message leaves the history between resolving latest and
// subscribing, the stream starts with the newest one then, not a reset.
func TestHandlerLatestTrimmedMeanwhile(t *testing.T) {
	m := &bus.Memory{HistorySize: 1}
	defer m.Close()
	b := &trimOnce{Memory: m}
	publish(t, m, "q", bus.Message{Data: []byte("old")})
	srv := serve(t, &Handler{Broker: b, Retry: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events/q?last_event_id=latest", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got := readUntil(t, bufio.NewReader(resp.Body), "data: newer\n\n")
	assert.NotContains(t, got, "reset")
	assert.NotContains(t, got, "data: old")
}
