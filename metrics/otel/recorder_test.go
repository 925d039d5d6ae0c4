package otel_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/pushpull/pushpull/metrics/otel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newRecorder returns a Recorder over a MeterProvider read by the returned
// ManualReader.
func newRecorder(t *testing.T, class metrics.TopicClass) (*otel.Recorder, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &otel.Recorder{Meter: mp.Meter("test"), TopicClass: class}, reader
}

// collect reads every metric, by name.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func sameAttrs(set attribute.Set, labels map[string]string) bool {
	if set.Len() != len(labels) {
		return false
	}
	for k, v := range labels {
		got, ok := set.Value(attribute.Key(k))
		if !ok || got.AsString() != v {
			return false
		}
	}
	return true
}

// check asserts that ms show exactly want: each wanted series with its
// value, and no other series in the instruments named.
func check(t *testing.T, ms map[string]metricdata.Metrics, want []metricstest.Want) {
	t.Helper()
	byName := map[string]metrics.Instrument{}
	for _, in := range metrics.Instruments() {
		byName[in.Name] = in
	}
	perName := map[string]int{}
	for _, w := range want {
		in, ok := byName[w.Name]
		require.True(t, ok, w.Name)
		name := otel.Name("", in)
		perName[name]++
		m, ok := ms[name]
		if !assert.True(t, ok, "no instrument %s", name) {
			continue
		}
		assert.Equal(t, in.Unit, m.Unit, name)
		found := false
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			assert.Equal(t, in.Type == metrics.Counter, d.IsMonotonic, name)
			for _, dp := range d.DataPoints {
				if sameAttrs(dp.Attributes, w.Labels) {
					found = true
					assert.Equal(t, int64(w.Value), dp.Value, "%s%v", name, w.Labels)
				}
			}
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				if sameAttrs(dp.Attributes, w.Labels) {
					found = true
					assert.Equal(t, w.Count, dp.Count, "%s%v count", name, w.Labels)
					assert.InDelta(t, w.Value, dp.Sum, 1e-9, "%s%v sum", name, w.Labels)
					assert.Equal(t, in.Buckets, dp.Bounds, name)
				}
			}
		default:
			t.Errorf("%s: data %T", name, m.Data)
		}
		assert.True(t, found, "%s: no series %v", name, w.Labels)
	}
	for name, n := range perName {
		switch d := ms[name].Data.(type) {
		case metricdata.Sum[int64]:
			assert.Len(t, d.DataPoints, n, "series of %s", name)
		case metricdata.Histogram[float64]:
			assert.Len(t, d.DataPoints, n, "series of %s", name)
		}
	}
}

func TestRecorderScript(t *testing.T) {
	t.Parallel()
	rec, reader := newRecorder(t, metricstest.ScriptClasses)
	events, want := metricstest.Script()
	for _, e := range events {
		rec.Record(e)
	}
	rec.Record(metrics.Event{Kind: metrics.Kind(250), Transport: "unknown"}) // ignored
	ms := collect(t, reader)
	check(t, ms, want)
	for name, m := range ms {
		assert.True(t, strings.HasPrefix(name, "pushpull."), name)
		var sets []attribute.Set
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				sets = append(sets, dp.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				sets = append(sets, dp.Attributes)
			}
		}
		for _, s := range sets {
			for _, kv := range s.ToSlice() {
				v := kv.Value.AsString()
				assert.False(t, strings.HasPrefix(v, "secret-") || v == "orders.1" || v == "unknown", "%s: label %s=%s", name, kv.Key, v)
			}
		}
	}
}

// A real broker's events, read: publishes, live deliveries, a stalled
// subscriber cut, an expired cursor.
func TestRecorderMemory(t *testing.T) {
	rec, reader := newRecorder(t, nil)
	want := bustest.MemoryMetrics(t, rec)
	check(t, collect(t, reader), want)
}

func TestRecorderGlobalMeterAndPrefix(t *testing.T) {
	t.Parallel()
	// The global provider is a no-op until one is set: nothing breaks.
	(&otel.Recorder{}).Record(metrics.Event{Kind: metrics.ConnOpened, Transport: "ws"})

	rec, reader := newRecorder(t, nil)
	rec.Prefix = "app."
	rec.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: "ws"})
	rec.Record(metrics.Event{Kind: metrics.Delivered, Transport: "ws", N: -3}) // a counter never goes down
	ms := collect(t, reader)
	m, ok := ms["app.connections_opened"]
	require.True(t, ok)
	assert.Equal(t, int64(1), m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
	_, ok = ms["app.deliveries"]
	assert.False(t, ok, "nothing was added")
}

// BenchmarkRecord measures what a publish to a Memory broker costs with
// this Recorder: a BusPublished and a BusDelivered event (three series).
func BenchmarkRecord(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	rec := &otel.Recorder{Meter: mp.Meter("bench")}
	e := metrics.Event{Kind: metrics.BusPublished, Transport: "memory", Topic: "orders.1", Outcome: metrics.OutcomeOK, Bytes: 64, Duration: time.Microsecond}
	d := metrics.Event{Kind: metrics.BusDelivered, Transport: "memory", Topic: "orders.1", Outcome: "live", N: 100}
	b.ReportAllocs()
	for b.Loop() {
		rec.Record(e)
		rec.Record(d)
	}
}
