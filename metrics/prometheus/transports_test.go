package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/pushpull/pushpull/metrics/prometheus"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
)

// A scripted run over the real SSE and WebSocket handlers and clients, all
// reporting to one Recorder, scraped: two SSE streams and a WebSocket get 3
// messages each, a forbidden topic is refused, an expired cursor gets a
// reset, then Shutdown ends the connections.
func TestRecorderTransports(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // no hang
	defer cancel()
	rec := &prometheus.Recorder{TopicClass: metrics.Prefixes("orders.")}
	reg := prom.NewRegistry()
	reg.MustRegister(rec)

	b := &bus.Memory{HistorySize: 4}
	defer b.Close()
	forbid := func(topic string) error {
		if topic == "secret-x" {
			return errors.New("no")
		}
		return nil
	}
	sh := &sse.Handler{Broker: b, Retry: time.Hour, Metrics: rec,
		Authorize: func(_ *http.Request, topic string) error { return forbid(topic) }}
	wh := &ws.Handler{Broker: b, Metrics: rec,
		Authorize: func(_ *http.Request, _ ws.Action, topic string) error { return forbid(topic) }}
	ssrv, wsrv := httptest.NewServer(sh), httptest.NewServer(wh)
	defer ssrv.Close()
	defer wsrv.Close()
	sc := &sse.Client{URL: ssrv.URL, Metrics: rec}
	wc := &ws.Client{URL: wsrv.URL, MinBackoff: time.Hour, MaxBackoff: time.Hour, Metrics: rec}
	require.NoError(t, wc.Connect(ctx))
	defer wc.Close()

	var live []bus.Subscription
	for range 2 {
		s, err := sc.Subscribe(ctx, "orders.1", "")
		require.NoError(t, err)
		defer s.Close()
		live = append(live, s)
	}
	s, err := wc.Subscribe(ctx, "orders.1", "")
	require.NoError(t, err)
	live = append(live, s)
	for i := range 3 {
		_, err := b.Publish(ctx, "orders.1", bus.Message{Data: []byte(fmt.Sprint("m", i))})
		require.NoError(t, err)
	}
	for _, s := range live {
		for range 3 {
			<-s.C()
		}
	}

	_, err = sc.Subscribe(ctx, "secret-x", "")
	require.Error(t, err)

	var first string
	for i := range 8 {
		m, err := b.Publish(ctx, "orders.old", bus.Message{Data: []byte("x")})
		require.NoError(t, err)
		if i == 0 {
			first = m.ID
		}
	}
	old, err := sc.Subscribe(ctx, "orders.old", first)
	require.NoError(t, err)
	for range old.C() {
	}
	require.ErrorIs(t, old.Err(), bus.ErrCursorExpired)
	for sh.Streams() > 2 { // the server sees the client leave
		time.Sleep(5 * time.Millisecond)
	}

	require.NoError(t, sh.Shutdown(ctx))
	require.NoError(t, wh.Shutdown(ctx))
	for _, s := range live[:2] {
		require.NoError(t, s.Close())
	}
	// The ws client sees its connection end before it is closed.
	for count(t, reg, "pushpull_connections_closed_total", "transport", "ws-client") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, wc.Close())

	lbl := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	fams, body := scrape(t, reg)
	check(t, fams, []metricstest.Want{
		{Name: "connections_opened_total", Labels: lbl("transport", "sse"), Value: 3},
		{Name: "connections_opened_total", Labels: lbl("transport", "sse-client"), Value: 3},
		{Name: "connections_opened_total", Labels: lbl("transport", "ws"), Value: 1},
		{Name: "connections_opened_total", Labels: lbl("transport", "ws-client"), Value: 1},
		{Name: "connections_active", Labels: lbl("transport", "sse"), Value: 0},
		{Name: "connections_active", Labels: lbl("transport", "sse-client"), Value: 0},
		{Name: "connections_active", Labels: lbl("transport", "ws"), Value: 0},
		{Name: "connections_active", Labels: lbl("transport", "ws-client"), Value: 0},
		{Name: "connections_closed_total", Labels: lbl("transport", "sse", "reason", "shutdown"), Value: 2},
		{Name: "connections_closed_total", Labels: lbl("transport", "sse", "reason", "closed"), Value: 1},
		{Name: "connections_closed_total", Labels: lbl("transport", "sse-client", "reason", "closed"), Value: 2},
		{Name: "connections_closed_total", Labels: lbl("transport", "sse-client", "reason", "expired"), Value: 1},
		{Name: "connections_closed_total", Labels: lbl("transport", "ws", "reason", "shutdown"), Value: 1},
		{Name: "connections_closed_total", Labels: lbl("transport", "ws-client", "reason", "shutdown"), Value: 1},
		{Name: "deliveries_total", Labels: lbl("transport", "sse", "topic_class", "orders."), Value: 6},
		{Name: "deliveries_total", Labels: lbl("transport", "sse-client", "topic_class", "orders."), Value: 6},
		{Name: "deliveries_total", Labels: lbl("transport", "ws", "topic_class", "orders."), Value: 3},
		{Name: "deliveries_total", Labels: lbl("transport", "ws-client", "topic_class", "orders."), Value: 3},
		{Name: "refusals_total", Labels: lbl("transport", "sse", "topic_class", "other", "reason", "forbidden"), Value: 1},
		{Name: "resets_total", Labels: lbl("transport", "sse", "topic_class", "orders."), Value: 1},
		{Name: "resets_total", Labels: lbl("transport", "sse-client", "topic_class", "orders."), Value: 1},
	})
	// Sizes and lifetimes vary from run to run; their counts do not.
	for _, tr := range []string{"sse", "ws"} {
		assert.Positive(t, value(fams, "pushpull_delivered_bytes_total", "transport", tr, "topic_class", "orders."))
	}
	assert.Equal(t, 12.0, value(fams, "pushpull_delivered_bytes_total", "transport", "sse-client", "topic_class", "orders."), "2 × 3 × 2 bytes")
	assert.Equal(t, 6.0, value(fams, "pushpull_delivered_bytes_total", "transport", "ws-client", "topic_class", "orders."), "3 × 2 bytes")
	for tr, n := range map[string]uint64{"sse": 3, "sse-client": 3, "ws": 1, "ws-client": 1} {
		m := series(fams["pushpull_connection_duration_seconds"], map[string]string{"transport": tr})
		if assert.NotNil(t, m, tr) {
			assert.Equal(t, n, m.GetHistogram().GetSampleCount(), tr)
		}
	}
	for _, raw := range []string{"orders.1", "orders.old", "secret-x"} {
		assert.NotContains(t, body, raw, "raw topics never become labels")
	}
}

// value returns the value of the counter or gauge of fams named name with
// exactly the labels kv, or -1.
func value(fams map[string]*dto.MetricFamily, name string, kv ...string) float64 {
	fam := fams[name]
	if fam == nil {
		return -1
	}
	labels := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	m := series(fam, labels)
	switch {
	case m == nil:
		return -1
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// count is value for a scrape of reg, 0 when the series is absent.
func count(t *testing.T, reg *prom.Registry, name string, kv ...string) float64 {
	fams, err := reg.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	var sum float64
	for _, m := range byName[name].GetMetric() {
		ok := true
		for i := 0; i < len(kv); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				found = found || lp.GetName() == kv[i] && lp.GetValue() == kv[i+1]
			}
			ok = ok && found
		}
		if ok {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
