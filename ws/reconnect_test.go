package ws

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReconnectBacksOffAndResumes cuts the connection and refuses new ones
// for ten (fake) seconds: the Client retries with growing, jittered waits
// bounded by MaxBackoff, then resumes and gets what was published during
// the outage.
func TestReconnectBacksOffAndResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, PingInterval: -1}
		var refused atomic.Bool
		var attempts atomic.Int32
		gated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refused.Load() {
				attempts.Add(1)
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
		ctx := context.Background()
		c := &Client{
			URL:        "ws://pipe.test/",
			HTTPClient: testnet.Serve(t, &http.Server{Handler: gated}),
			MinBackoff: 100 * time.Millisecond,
			MaxBackoff: time.Second,
		}
		require.NoError(t, c.Connect(ctx))
		s, err := c.Subscribe(ctx, "t", "")
		require.NoError(t, err)
		_, err = b.Publish(ctx, "t", bus.Message{Data: []byte("before")})
		require.NoError(t, err)
		assert.Equal(t, "before", string((<-s.C()).Data))

		refused.Store(true)
		h.mu.Lock()
		for conn := range h.conns {
			conn.abort()
		}
		h.mu.Unlock()
		for _, d := range []string{"during 1", "during 2"} {
			_, err = b.Publish(ctx, "t", bus.Message{Data: []byte(d)})
			require.NoError(t, err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		// Waits of 100ms·2ⁿ capped at 1s, each jittered by ±50%: between 9
		// and 23 attempts fit in ten seconds.
		n := attempts.Load()
		t.Logf("%d refused attempts in 10s", n)
		assert.GreaterOrEqual(t, n, int32(9), "retries keep coming")
		assert.LessOrEqual(t, n, int32(23), "retries back off")

		refused.Store(false)
		time.Sleep(1600 * time.Millisecond) // more than one jittered MaxBackoff
		synctest.Wait()
		assert.True(t, c.connected())
		for _, want := range []string{"during 1", "during 2"} {
			select {
			case m := <-s.C():
				assert.Equal(t, want, string(m.Data))
			default:
				t.Fatalf("%q not delivered after the reconnect", want)
			}
		}
		require.NoError(t, c.Close())
		require.NoError(t, h.Shutdown(ctx))
	})
}
