package webhook

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChaos sends 1,000 events to two endpoints over loopback while their
// receiver fails in every way a sender meets (500, 429 with Retry-After,
// answers slower than the sender's timeout, goes down and comes back on
// the same address) and the dispatcher itself is restarted mid-stream. Each
// receiver must handle every event exactly once, in order.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	const total = 1000
	b := &bus.Memory{HistorySize: 2 * total}
	defer b.Close()
	keys := Secrets(Secret("chaos-key"))
	all, even := newFlakyServer(t, keys), newFlakyServer(t, keys)
	cursors := &FileCursors{Dir: t.TempDir()}
	sender := fastSender(200) // ≈ 9 s of retries before a dead letter
	var mu sync.Mutex
	seen := map[string]int{} // attempt outcomes
	onAttempt := func(a Attempt) {
		k := strconv.Itoa(a.Status)
		switch {
		case a.Status != 0:
		case strings.Contains(a.Error, "deadline exceeded"), strings.Contains(a.Error, "Timeout"):
			k = "timeout"
		default:
			k = "conn"
		}
		mu.Lock()
		seen[k]++
		mu.Unlock()
	}
	newDispatcher := func() *Dispatcher {
		d := &Dispatcher{Broker: b, Sender: sender, Cursors: cursors, BreakerThreshold: 3,
			BreakerCooldown: 20 * time.Millisecond, OnAttempt: onAttempt}
		require.NoError(t, d.Add(Endpoint{ID: "all", URL: all.URL(), Keys: keys, Topic: "orders"}))
		require.NoError(t, d.Add(Endpoint{ID: "even", URL: even.URL(), Keys: keys, Topic: "orders", Types: []string{"num.even"}}))
		return d
	}
	for _, id := range []string{"all", "even"} {
		require.NoError(t, cursors.Save(context.Background(), id+"|orders", bus.Oldest))
	}

	// The publisher runs alongside the chaos.
	pubDone := make(chan error, 1)
	go func() {
		for n := range total {
			if _, err := b.Publish(context.Background(), "orders", bus.Message{Type: evenOdd(n), Data: eventData(n)}); err != nil {
				pubDone <- err
				return
			}
			if n%10 == 0 {
				time.Sleep(3 * time.Millisecond)
			}
		}
		pubDone <- nil
	}()

	d := newDispatcher()
	stop := runDispatcher(d)
	phase := func(f func()) {
		f()
		time.Sleep(60 * time.Millisecond)
	}
	both := func(m int32) func() { return func() { all.mode.Store(m); even.mode.Store(m) } }
	phase(both(modeOK))
	phase(both(mode500))
	phase(both(modeOK))
	phase(both(mode429))
	phase(both(modeSlow))
	phase(both(modeOK))
	phase(func() { all.down(); even.down() })
	phase(func() { all.up(); even.up() })
	phase(func() { // restart the dispatcher mid-stream
		require.NoError(t, stop())
		d = newDispatcher()
		stop = runDispatcher(d)
	})
	phase(both(mode500))
	phase(func() { all.down() })
	phase(func() { all.up(); both(modeOK)() })
	require.NoError(t, <-pubDone)

	okAll := all.waitHandled(total, 60*time.Second)
	okEven := even.waitHandled(total/2, 60*time.Second)
	require.NoError(t, stop())
	assert.Empty(t, d.DeadLetters())
	require.True(t, okAll, "all events handled by endpoint all")
	require.True(t, okEven, "even events handled by endpoint even")

	mu.Lock()
	t.Logf("attempt outcomes: %v", seen)
	for _, k := range []string{"200", "500", "429", "409", "timeout", "conn"} {
		assert.Positive(t, seen[k], "the chaos produced %s", k)
	}
	mu.Unlock()

	got, counts := all.handled()
	assert.Equal(t, seq(0, total, 1), got, "in order, each once")
	for n, c := range counts {
		if c != 1 {
			t.Errorf("event %d handled %d times", n, c)
		}
	}
	got, _ = even.handled()
	assert.Equal(t, seq(0, total, 2), got)
}
