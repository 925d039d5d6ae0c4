package ws

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResumeUnderRandomKills(t *testing.T) {
	const kills = 120
	b := &bus.Memory{HistorySize: 1 << 20}
	defer b.Close()
	h := &Handler{Broker: b}
	srv := httptest.NewUnstartedServer(h)
	kl := &testnet.KillListener{Listener: srv.Listener}
	srv.Listener = kl
	srv.Start()
	defer srv.Close()
	defer h.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	ctx := testCtx(t)
	newClient := func() *Client {
		return &Client{URL: url, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	}
	topics := []string{"r1", "r2"}

	// Subscribers: two clients, each on both topics, from the start.
	type received struct {
		mu  sync.Mutex
		ids []string
	}
	var subs []bus.Subscription
	got := map[bus.Subscription]*received{}
	for range 2 {
		c := connect(t, newClient())
		for _, topic := range topics {
			s, err := c.Subscribe(ctx, topic, bus.Oldest)
			require.NoError(t, err)
			subs = append(subs, s)
			got[s] = &received{}
		}
	}
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := got[s]
			for m := range s.C() {
				r.mu.Lock()
				r.ids = append(r.ids, m.ID)
				r.mu.Unlock()
			}
		}()
	}

	// Publishers at full speed through the same server, their
	// connections cut too: a lost ack is not an error here, the broker
	// is the truth.
	var stored atomic.Int64
	stop := make(chan struct{})
	pubErrs := make(chan error, len(topics))
	var pwg sync.WaitGroup
	for _, topic := range topics {
		pub := connect(t, newClient())
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := pub.Publish(ctx, topic, bus.Message{Data: []byte{byte(i)}})
				switch {
				case err == nil:
					stored.Add(1)
				case errors.Is(err, ErrNoAck):
				default:
					pubErrs <- err
					return
				}
			}
		}()
	}

	// Cut a random connection every few stored messages.
	for range kills {
		target := stored.Load() + 10
		for stored.Load() < target {
			select {
			case err := <-pubErrs:
				t.Fatalf("publish: %v", err)
			case <-ctx.Done():
				t.Fatal("publishers stalled")
			default:
				time.Sleep(100 * time.Microsecond)
			}
		}
		kl.KillRandom()
	}
	close(stop)
	pwg.Wait()

	// Every subscription catches up with exactly the broker's history.
	want := map[string][]string{}
	for _, topic := range topics {
		msgs, err := b.Read(ctx, topic, bus.Oldest, 0)
		require.NoError(t, err)
		for _, m := range msgs {
			want[topic] = append(want[topic], m.ID)
		}
		require.NotEmpty(t, want[topic])
	}
	for i, s := range subs {
		topic := topics[i%len(topics)]
		r := got[s]
		for {
			r.mu.Lock()
			n := len(r.ids)
			r.mu.Unlock()
			if n >= len(want[topic]) || ctx.Err() != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		r.mu.Lock()
		assert.Equal(t, want[topic], r.ids, "subscription %d on %s", i, topic)
		r.mu.Unlock()
	}
	assert.GreaterOrEqual(t, kl.Accepted(), kills, "every cut connection was made again")
	t.Logf("%d kills, %d connections, %d messages acked", kills, kl.Accepted(), stored.Load())
	for _, s := range subs {
		s.Close()
	}
	wg.Wait()
}
