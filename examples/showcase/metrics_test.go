package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrape returns the /metrics page of the app at base.
func scrape(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Type"), "text/plain")
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(body)
}

// sample returns the value of the series of name whose labels include
// every one of labels (`key="value"`), or -1 when there is none.
func sample(body, name string, labels ...string) float64 {
	for line := range strings.Lines(body) {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		set, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(","+set+",", ","+l+",")
		}
		if match {
			v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil {
				return -1
			}
			return v
		}
	}
	return -1
}

// TestShowcaseMetrics reads the demo with the Go clients of three
// transports and checks what /metrics shows: the open connections, the
// deliveries by topic class, the bus's publishes, a refusal, the webhook
// attempts; never a raw topic.
func TestShowcaseMetrics(t *testing.T) {
	_, base := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	news, err := sse.NewClient(base+"/sse/{topic}").Subscribe(ctx, "news", "")
	require.NoError(t, err)
	defer news.Close()
	lp, err := longpoll.NewClient(base+"/longpoll/{topic}").Subscribe(ctx, "news", "")
	require.NoError(t, err)
	defer lp.Close()
	wc := ws.NewClient(base + "/ws")
	require.NoError(t, wc.Connect(ctx))
	defer wc.Close()
	wsNews, err := wc.Subscribe(ctx, "news", "")
	require.NoError(t, err)
	for _, text := range []string{"a", "b"} {
		publish(t, base, text)
	}
	for range 2 {
		<-news.C()
		<-lp.C()
		<-wsNews.C()
	}
	res, err := http.Get(base + "/sse/bad%20topic")
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)

	// The handlers count a write once it has returned, which may be
	// after the client has read it.
	body := scrape(t, base)
	// The webhook Dispatcher posts to the Receiver in the background.
	for sample(body, "pushpull_deliveries_total", `transport="sse"`) < 2 || sample(body, "pushpull_deliveries_total", `transport="ws"`) < 2 ||
		sample(body, "pushpull_webhook_attempts_total", `outcome="ok"`) < 2 {
		require.NoError(t, ctx.Err())
		time.Sleep(5 * time.Millisecond)
		body = scrape(t, base)
	}
	assert.Equal(t, 1.0, sample(body, "pushpull_connections_active", `transport="sse"`))
	assert.Equal(t, 1.0, sample(body, "pushpull_connections_active", `transport="ws"`))
	assert.Equal(t, 1.0, sample(body, "pushpull_connections_opened_total", `transport="ws"`))
	assert.Equal(t, 2.0, sample(body, "pushpull_deliveries_total", `transport="sse"`, `topic_class="news"`))
	assert.Equal(t, 2.0, sample(body, "pushpull_deliveries_total", `transport="ws"`, `topic_class="news"`))
	assert.Equal(t, 2.0, sample(body, "pushpull_deliveries_total", `transport="longpoll"`, `topic_class="news"`))
	assert.Equal(t, 1.0, sample(body, "pushpull_refusals_total", `transport="sse"`, `reason="invalid"`))
	assert.Equal(t, 2.0, sample(body, "pushpull_bus_publishes_total", `broker="memory"`, `topic_class="news"`, `outcome="ok"`))
	assert.Equal(t, 2.0, sample(body, "pushpull_webhook_attempts_total", `topic_class="news"`, `outcome="ok"`, `status_class="2xx"`))
	assert.NotContains(t, body, "bad topic")
}
