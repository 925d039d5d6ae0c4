package natsbus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/natsbus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	stream, prefix := freshStream(t)
	rec := &metricstest.Recorder{}
	b := &natsbus.Broker{Conn: connect(t), Stream: stream, Prefix: prefix, MemoryStorage: true, HistorySize: 2, Metrics: rec}
	defer b.Close()
	bustest.CheckMetrics(t, bustest.MetricsCheck{Broker: b, Recorder: rec, Transport: "nats", AfterPublish: func() {
		// One stream creation, one read of the topic's last message (the
		// first publication learns the top), one publication per message.
		assert.Equal(t, 1, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Transport: "nats", Op: "stream", Outcome: metrics.OutcomeOK}))
		assert.Equal(t, 1, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Op: "get_last"}))
		assert.Equal(t, 4, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Op: "publish", Outcome: metrics.OutcomeOK}))
		assert.Zero(t, rec.Count(metrics.BrokerRoundTrip, metrics.Event{Outcome: metrics.OutcomeError}))
	}})
	assert.Zero(t, rec.Count(metrics.BrokerError, metrics.Event{}))
}

func TestMetricsReconnect(t *testing.T) {
	r := startPrivateNATS(t)
	nc, err := nats.Connect(r.url(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	rec := &metricstest.Recorder{}
	b := &natsbus.Broker{Conn: nc, CheckInterval: time.Hour, Metrics: rec}
	defer b.Close()
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, "r", "")
	require.NoError(t, err)
	defer sub.Close()

	reconnected := make(chan struct{}, 1)
	nc.SetReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} })
	r.stop()
	r.start()
	<-reconnected
	require.Eventually(t, func() bool {
		return rec.Count(metrics.BrokerError, metrics.Event{Transport: "nats", Op: "reconnect"}) == 1
	}, 10*time.Second, 5*time.Millisecond)
	_, err = b.Publish(ctx, "r", bus.Message{Data: []byte("x")})
	require.NoError(t, err)
	assert.Equal(t, 1, rec.Count(metrics.BrokerError, metrics.Event{}))
}

// BenchmarkPublishMetrics measures what reporting adds to a publication:
// go test -run '^$' -bench PublishMetrics -benchtime 3000x -count 3
func BenchmarkPublishMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			stream, prefix := freshStream(b)
			br := &natsbus.Broker{Conn: connect(b), Stream: stream, Prefix: prefix, MemoryStorage: true}
			if on {
				var n atomic.Int64
				br.Metrics = metrics.RecorderFunc(func(metrics.Event) { n.Add(1) })
			}
			defer br.Close()
			ctx := context.Background()
			m := bus.Message{Data: make([]byte, 100)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := br.Publish(ctx, "bench", m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
