package prometheus_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/pushpull/pushpull/metrics/prometheus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape reads reg's metrics the way Prometheus does: over HTTP from the
// promhttp handler, in the text format.
func scrape(t *testing.T, reg *prom.Registry) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err)
	return fams, string(body)
}

// series returns the series of fam whose labels are exactly labels.
func series(fam *dto.MetricFamily, labels map[string]string) *dto.Metric {
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		ok := true
		for _, lp := range m.GetLabel() {
			if v, found := labels[lp.GetName()]; !found || v != lp.GetValue() {
				ok = false
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

// check asserts that fams show exactly want: each wanted series with its
// value, and no other series in the families named.
func check(t *testing.T, fams map[string]*dto.MetricFamily, want []metricstest.Want) {
	t.Helper()
	perFamily := map[string]int{}
	for _, w := range want {
		name := "pushpull_" + w.Name
		perFamily[name]++
		fam := fams[name]
		if !assert.NotNil(t, fam, "no family %s", name) {
			continue
		}
		m := series(fam, w.Labels)
		if !assert.NotNil(t, m, "%s: no series %v", name, w.Labels) {
			continue
		}
		switch fam.GetType() {
		case dto.MetricType_COUNTER:
			assert.Equal(t, w.Value, m.GetCounter().GetValue(), "%s%v", name, w.Labels)
		case dto.MetricType_GAUGE:
			assert.Equal(t, w.Value, m.GetGauge().GetValue(), "%s%v", name, w.Labels)
		case dto.MetricType_HISTOGRAM:
			assert.Equal(t, w.Count, m.GetHistogram().GetSampleCount(), "%s%v count", name, w.Labels)
			assert.InDelta(t, w.Value, m.GetHistogram().GetSampleSum(), 1e-9, "%s%v sum", name, w.Labels)
		default:
			t.Errorf("%s: type %v", name, fam.GetType())
		}
	}
	for name, n := range perFamily {
		if fam := fams[name]; fam != nil {
			assert.Len(t, fam.GetMetric(), n, "series of %s", name)
		}
	}
}

func TestRecorderScript(t *testing.T) {
	t.Parallel()
	rec := &prometheus.Recorder{TopicClass: metricstest.ScriptClasses}
	reg := prom.NewRegistry()
	require.NoError(t, reg.Register(rec))
	events, want := metricstest.Script()
	for _, e := range events {
		rec.Record(e)
	}
	rec.Record(metrics.Event{Kind: metrics.Kind(250), Transport: "unknown"}) // ignored
	fams, body := scrape(t, reg)
	check(t, fams, want)
	assert.NotContains(t, body, "secret-", "raw topics never become labels")
	assert.NotContains(t, body, "orders.1", "raw topics never become labels")
	assert.NotContains(t, body, "unknown")
	for name := range fams {
		assert.True(t, strings.HasPrefix(name, "pushpull_"), name)
	}
}

// A real broker's events, scraped: publishes, live deliveries, a stalled
// subscriber cut, an expired cursor.
func TestRecorderMemory(t *testing.T) {
	rec := &prometheus.Recorder{}
	reg := prom.NewRegistry()
	reg.MustRegister(rec)
	want := bustest.MemoryMetrics(t, rec)
	fams, _ := scrape(t, reg)
	check(t, fams, want)
}

func TestRecorderNamespaceAndConstLabels(t *testing.T) {
	t.Parallel()
	rec := &prometheus.Recorder{Namespace: "app", ConstLabels: prom.Labels{"instance": "a"}}
	reg := prom.NewRegistry()
	reg.MustRegister(rec)
	rec.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: "ws"})
	rec.Record(metrics.Event{Kind: metrics.Delivered, Transport: "ws", N: -3}) // a counter never goes down
	fams, _ := scrape(t, reg)
	fam := fams["app_connections_opened_total"]
	require.NotNil(t, fam)
	m := series(fam, map[string]string{"instance": "a", "transport": "ws"})
	require.NotNil(t, m)
	assert.Equal(t, 1.0, m.GetCounter().GetValue())
	assert.NotContains(t, fams, "app_deliveries_total", "nothing was added")
	// Registering twice fails as for any collector.
	assert.Error(t, reg.Register(&prometheus.Recorder{Namespace: "app", ConstLabels: prom.Labels{"instance": "a"}}))
}

// BenchmarkRecord measures what a publish to a Memory broker costs with
// this Recorder: a BusPublished and a BusDelivered event (three series).
func BenchmarkRecord(b *testing.B) {
	rec := &prometheus.Recorder{}
	prom.NewRegistry().MustRegister(rec)
	e := metrics.Event{Kind: metrics.BusPublished, Transport: "memory", Topic: "orders.1", Outcome: metrics.OutcomeOK, Bytes: 64, Duration: time.Microsecond}
	d := metrics.Event{Kind: metrics.BusDelivered, Transport: "memory", Topic: "orders.1", Outcome: "live", N: 100}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec.Record(e)
			rec.Record(d)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec.Record(e)
				rec.Record(d)
			}
		})
	})
}
