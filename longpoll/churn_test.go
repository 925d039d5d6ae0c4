package longpoll_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Clients on several topics come and go, resuming after the last ID they
// saw, while messages are published: every client sees every message of
// its topic once, in order, and no hub or held request is left behind.
func TestHandlerChurnAcrossTopics(t *testing.T) {
	t.Parallel()
	const topics, clients, perTopic = 6, 4, 300
	b := &bus.Memory{HistorySize: 2 * perTopic}
	t.Cleanup(func() { b.Close() })
	h := &longpoll.Handler{Broker: b, Limit: 7}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	type report struct {
		topic int
		err   error
	}
	reports := make(chan report, topics*clients)
	var wg sync.WaitGroup
	for tp := range topics {
		topic := fmt.Sprint("churn-", tp)
		top, err := b.Top(ctx, topic)
		require.NoError(t, err)
		for cl := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reports <- report{tp, follow(ctx, srv.URL, topic, top, perTopic, cl)}
			}()
		}
	}
	for i := range perTopic {
		for tp := range topics {
			_, err := b.Publish(ctx, fmt.Sprint("churn-", tp), bus.Message{Data: fmt.Append(nil, i)})
			require.NoError(t, err)
		}
		if i%25 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	close(reports)
	for r := range reports {
		assert.NoError(t, r.err, "topic %d", r.topic)
	}
	waitUntil(t, func() bool { return h.Held() == 0 })
	require.NoError(t, h.Shutdown(ctx))
}

// follow reads n messages of topic after cursor, closing and reopening its
// subscription every few messages (more often for higher seeds).
func follow(ctx context.Context, url, topic, cursor string, n, seed int) error {
	c := &longpoll.Client{URL: url, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	var prev bus.Position
	for got := 0; got < n; {
		sub, err := c.Subscribe(ctx, topic, cursor)
		if err != nil {
			return err
		}
		for k := 0; k < 5+seed*3 && got < n; k++ {
			m, ok := <-sub.C()
			if !ok {
				return fmt.Errorf("ended after %d: %w", got, sub.Err())
			}
			if string(m.Data) != fmt.Sprint(got) {
				return fmt.Errorf("message %d is %q", got, m.Data)
			}
			p, _ := m.Position()
			if got > 0 && !p.Follows(prev) {
				return fmt.Errorf("%s does not follow %s", p, prev)
			}
			prev, cursor = p, m.ID
			got++
		}
		sub.Close()
	}
	return nil
}
