package auto_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
)

// bus.Latest works on every transport: the newest message first, then
// what follows it.
func TestSubscribeLatestEveryTransport(t *testing.T) {
	for _, tr := range []string{auto.WebSocket, auto.SSE, auto.LongPoll, auto.Poll} {
		t.Run(tr, func(t *testing.T) {
			b := &bus.Memory{}
			defer b.Close()
			srv := newServer(t, &auto.Handler{Broker: b, PollInterval: 20 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var last bus.Message
			for range 3 {
				m, err := b.Publish(ctx, "q", bus.Message{Data: []byte("v")})
				require.NoError(t, err)
				last = m
			}
			c := &auto.Client{URL: srv.URL, Transports: []string{tr}}
			sub, err := c.Subscribe(ctx, "q", bus.Latest)
			require.NoError(t, err)
			defer sub.Close()
			next, err := b.Publish(ctx, "q", bus.Message{Data: []byte("w")})
			require.NoError(t, err)
			for _, want := range []string{last.ID, next.ID} {
				select {
				case m := <-sub.C():
					assert.Equal(t, want, m.ID)
				case <-ctx.Done():
					t.Fatalf("waiting for %s: %v", want, sub.Err())
				}
			}
		})
	}
}

// negotiate with after=latest resolves it once, for every transport the
// client may switch to: the cursor the newest message follows, or the top
// of a topic with none.
func TestNegotiateLatest(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	srv := newServer(t, &auto.Handler{Broker: b})
	var answer struct{ Top, Latest string }
	read := func(q string) {
		status, body := get(t, srv.URL+"/negotiate?"+q)
		require.Equal(t, 200, status, body)
		answer.Top, answer.Latest = "", ""
		require.NoError(t, json.Unmarshal([]byte(body), &answer))
	}
	read("topic=q&after=latest")
	assert.Equal(t, bus.Origin, answer.Latest, "no message: the top")
	var last bus.Message
	for range 3 {
		m, err := b.Publish(context.Background(), "q", bus.Message{Data: []byte("v")})
		require.NoError(t, err)
		last = m
	}
	read("topic=q&after=latest")
	p, err := bus.ParseID(last.ID)
	require.NoError(t, err)
	assert.Equal(t, bus.Position{Epoch: p.Epoch, Offset: p.Offset - 1}.ID(), answer.Latest)
	assert.Equal(t, last.ID, answer.Top)
	read("topic=q")
	assert.Empty(t, answer.Latest, "only when asked")
}
