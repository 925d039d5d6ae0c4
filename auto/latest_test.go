package auto_test

import (
	"context"
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
