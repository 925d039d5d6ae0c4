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
		if string(a.Response) == "duplicate\n" {
			seen["duplicate"]++ // delivered before, acknowledged, not handled again
		}
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

	count := func(k string) func() int {
		return func() int { mu.Lock(); defer mu.Unlock(); return seen[k] }
	}
	both := func(m int32) func() { return func() { all.mode.Store(m); even.mode.Store(m) } }
	d := newDispatcher()
	stop := runDispatcher(d)
	halt := func() { require.NoError(t, stop()) } // mid-stream
	resume := func() {
		d = newDispatcher() // a new process would do the same
		stop = runDispatcher(d)
	}
	// Each phase changes the weather, publishes its share of the events,
	// and lasts until the senders have met that weather (or 10 s).
	phases := []struct {
		name   string
		set    func()
		met    func() int
		bypass bool // nothing to wait for
	}{
		{"ok", both(modeOK), count("200"), false},
		{"500", both(mode500), count("500"), false},
		{"ok again", both(modeOK), nil, true},
		{"429", both(mode429), count("429"), false},
		{"slow", both(modeSlow), count("409"), false},
		{"ok after slow", both(modeOK), nil, true},
		{"down", func() { all.down(); even.down() }, count("conn"), false},
		{"restarted", func() { all.up(); even.up() }, nil, true},
		{"dispatcher stopped", halt, nil, true}, // events pile up on the bus
		{"dispatcher started", resume, nil, true},
		{"500 after restart", both(mode500), count("500"), false},
		{"one down", func() { all.down() }, count("conn"), false},
		{"all well", func() { all.up(); both(modeOK)() }, nil, true},
	}
	per := total / len(phases)
	for i, ph := range phases {
		before := 0
		if ph.met != nil {
			before = ph.met()
		}
		ph.set()
		to := (i + 1) * per
		if i == len(phases)-1 {
			to = total
		}
		publish(t, b, "orders", i*per, to, evenOdd)
		if ph.bypass {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for ph.met() == before && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // a few more attempts in this weather
	}

	okAll := all.waitHandled(total, 60*time.Second)
	okEven := even.waitHandled(total/2, 60*time.Second)
	require.NoError(t, stop())
	assert.Empty(t, d.DeadLetters())
	require.True(t, okAll, "all events handled by endpoint all")
	require.True(t, okEven, "even events handled by endpoint even")

	mu.Lock()
	t.Logf("attempt outcomes: %v", seen)
	for _, k := range []string{"200", "500", "429", "409", "timeout", "conn", "duplicate"} {
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
