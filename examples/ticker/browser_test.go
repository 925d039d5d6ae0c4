package main

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/examples/internal/browsertest"
)

// TestTickerResumesInBrowser streams ticks to the page, presses "Drop
// connection" (the server cuts the stream) while ticks keep coming, and
// checks that EventSource reconnected with Last-Event-ID and that the
// page's tick numbers run on with none missing and none repeated.
func TestTickerResumesInBrowser(t *testing.T) {
	ctx := browsertest.New(t, 60*time.Second)
	a, b, srv := newServer(t)
	a.sse.Retry = 300 * time.Millisecond // long enough for ticks to be published while away

	tctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m := newMarket(2)
		tk := time.NewTicker(30 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-tk.C:
				_ = m.publish(tctx, b)
			}
		}
	}()
	defer wg.Wait()
	defer stop()

	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(900, 560), chromedp.Navigate(srv.URL)))
	browsertest.WaitFor(t, ctx, `window.seqs.length >= 5 && document.querySelectorAll("#quotes tr").length === 6`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#drop")))
	browsertest.WaitFor(t, ctx, `window.opens >= 2`)
	at, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.seqs.length`))
	require.NoError(t, err)
	browsertest.WaitFor(t, ctx, `window.seqs.length >= `+strconv.Itoa(at+5))
	stop()

	seqs, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`window.seqs`))
	require.NoError(t, err)
	for i := 1; i < len(seqs); i++ {
		require.Equal(t, seqs[i-1]+1, seqs[i], "tick %d follows tick %d: %v", seqs[i], seqs[i-1], seqs)
	}
	gaps, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.gaps`))
	require.NoError(t, err)
	assert.Zero(t, gaps)
	assert.GreaterOrEqual(t, a.resumed.Load(), int64(1), "the reconnection carried Last-Event-ID")
	browsertest.WaitFor(t, ctx, `document.getElementById("reconnects").textContent === "1" && document.getElementById("gaps").textContent === "0"`)
	browsertest.Screenshot(t, ctx, "ticker.png")
}

// TestTickerShowsLatestInBrowser opens the page between ticks: it shows
// the newest tick at once (last_event_id=latest), not at the next one.
func TestTickerShowsLatestInBrowser(t *testing.T) {
	ctx := browsertest.New(t, 60*time.Second)
	_, b, srv := newServer(t)
	m := newMarket(2)
	for range 3 {
		require.NoError(t, m.publish(context.Background(), b))
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL)))
	browsertest.WaitFor(t, ctx, `window.seqs.length === 1 && document.querySelectorAll("#quotes tr").length === 6`)
	seqs, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`window.seqs`))
	require.NoError(t, err)
	msgs, err := b.Read(context.Background(), topic, "", 1)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Contains(t, string(msgs[0].Data), `"seq":`+strconv.Itoa(seqs[0])+`,`, "the newest tick: %s", msgs[0].Data)
	require.NoError(t, m.publish(context.Background(), b))
	browsertest.WaitFor(t, ctx, `window.seqs.length === 2 && window.seqs[1] === window.seqs[0] + 1`)
}
