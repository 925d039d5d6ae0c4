package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMulti(t *testing.T) {
	t.Parallel()
	assert.Nil(t, metrics.Multi())
	assert.Nil(t, metrics.Multi(nil, nil))

	var a, b metricstest.Recorder
	assert.Same(t, &a, metrics.Multi(nil, &a, nil))

	m := metrics.Multi(&a, metrics.Multi(&b, nil), nil)
	m.Record(metrics.Event{Kind: metrics.Delivered, N: 2})
	m.Record(metrics.Event{Kind: metrics.Reset})
	assert.Equal(t, int64(2), a.Sum(metrics.Delivered, metrics.Event{}))
	assert.Equal(t, int64(2), b.Sum(metrics.Delivered, metrics.Event{}))
	assert.Len(t, a.Events(), 2)
	assert.Len(t, b.Events(), 2)
}

func TestRecordAllocatesNothing(t *testing.T) {
	var n int64
	var r metrics.Recorder = metrics.RecorderFunc(func(e metrics.Event) { n += e.N })
	topic := strings.Repeat("t", 10)
	allocs := testing.AllocsPerRun(100, func() {
		r.Record(metrics.Event{Kind: metrics.Delivered, Transport: "sse", Topic: topic, N: 1, Bytes: 10, Duration: time.Millisecond})
	})
	assert.Zero(t, allocs)
	assert.Equal(t, int64(101), n)
}

func TestStatusClass(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]string{
		0: "none", 99: "none", 100: "1xx", 200: "2xx", 204: "2xx", 301: "3xx",
		404: "4xx", 410: "4xx", 429: "4xx", 500: "5xx", 599: "5xx", 600: "none", -1: "none",
	} {
		assert.Equal(t, want, metrics.StatusClass(status), "status %d", status)
	}
}

func TestTopicClass(t *testing.T) {
	t.Parallel()
	var none metrics.TopicClass
	assert.Equal(t, "all", none.Of("anything"))
	assert.Equal(t, "", none.Of(""))

	c := metrics.Prefixes("a.", "a.b.", "")
	assert.Equal(t, "a.b.", c.Of("a.b.c"))
	assert.Equal(t, "a.", c.Of("a.c"))
	assert.Equal(t, "", c.Of("zzz"), "the empty prefix matches everything")
	assert.Equal(t, "", c.Of(""), "no topic, no class")

	c = metrics.Prefixes("x.")
	assert.Equal(t, "other", c.Of("y"))
	raw := metrics.TopicClass(func(s string) string { return s })
	assert.Equal(t, "y", raw.Of("y"))
}

func TestKindString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "ConnOpened", metrics.ConnOpened.String())
	assert.Equal(t, "WebhookBreaker", metrics.WebhookBreaker.String())
	assert.Equal(t, "Kind(0)", metrics.Kind(0).String())
	assert.Equal(t, "Kind(200)", metrics.Kind(200).String())
}

// allKinds lists every Kind by scanning the byte range: each named Kind
// has a String other than "Kind(n)".
func allKinds() []metrics.Kind {
	var ks []metrics.Kind
	for i := range 256 {
		k := metrics.Kind(i)
		if !strings.HasPrefix(k.String(), "Kind(") {
			ks = append(ks, k)
		}
	}
	return ks
}

func TestInstruments(t *testing.T) {
	t.Parallel()
	ins := metrics.Instruments()
	require.NotEmpty(t, ins)
	names := map[string]bool{}
	updated := map[metrics.Kind]bool{}
	for _, in := range ins {
		assert.False(t, names[in.Name], "duplicate %s", in.Name)
		names[in.Name] = true
		assert.NotEmpty(t, in.Help, in.Name)
		assert.NotEmpty(t, in.Unit, in.Name)
		assert.LessOrEqual(t, len(in.Labels), metrics.MaxLabels, in.Name)
		assert.NotEmpty(t, in.Updates, in.Name)
		for _, l := range in.Labels {
			assert.NotEmpty(t, l.String(), in.Name)
		}
		switch in.Type {
		case metrics.Counter:
			assert.True(t, strings.HasSuffix(in.Name, "_total"), in.Name)
		case metrics.Gauge:
			assert.False(t, strings.HasSuffix(in.Name, "_total"), in.Name)
		case metrics.Histogram:
			assert.NotEmpty(t, in.Buckets, in.Name)
		default:
			t.Errorf("%s: type %d", in.Name, in.Type)
		}
		for _, u := range in.Updates {
			updated[u.Kind] = true
			if in.Type == metrics.Counter {
				assert.NotEqual(t, metrics.ValueMinusOne, u.Value, in.Name)
			}
		}
	}
	for _, k := range allKinds() {
		assert.True(t, updated[k], "%v updates no instrument", k)
	}
	assert.Len(t, allKinds(), 21)

	// The caller's copy is its own.
	ins[0].Labels[0] = metrics.LabelOp
	assert.NotEqual(t, metrics.LabelOp, metrics.Instruments()[0].Labels[0])
}

func TestEventLabelsAndValues(t *testing.T) {
	t.Parallel()
	e := metrics.Event{Kind: metrics.WebhookAttempt, Transport: "webhook", Topic: "orders.1", Op: "save",
		Outcome: metrics.OutcomeRetry, Status: 503, N: 7, Bytes: 9, Duration: 1500 * time.Millisecond}
	class := metrics.Prefixes("orders.")
	for l, want := range map[metrics.Label]string{
		metrics.LabelTransport: "webhook", metrics.LabelBroker: "webhook", metrics.LabelTopicClass: "orders.",
		metrics.LabelReason: "retry", metrics.LabelOutcome: "retry", metrics.LabelPath: "retry", metrics.LabelState: "retry",
		metrics.LabelOp: "save", metrics.LabelStatusClass: "5xx", metrics.Label(0): "",
	} {
		assert.Equal(t, want, e.Label(l, class), "label %v", l)
	}
	for v, want := range map[metrics.Value]float64{
		metrics.ValueOne: 1, metrics.ValueMinusOne: -1, metrics.ValueN: 7, metrics.ValueBytes: 9, metrics.ValueSeconds: 1.5, metrics.Value(0): 0,
	} {
		assert.Equal(t, want, e.Value(v), "value %v", v)
	}
	assert.Equal(t, "", metrics.Label(200).String())
}

func TestRouter(t *testing.T) {
	t.Parallel()
	ins := metrics.Instruments()
	type bound struct {
		name   string
		values string
	}
	var binds []bound
	sums := map[bound]float64{}
	r := metrics.NewRouter(ins, metrics.Prefixes("a."), func(inst int, values []string) func(float64) {
		b := bound{ins[inst].Name, strings.Join(values, ",")}
		binds = append(binds, b)
		return func(v float64) { sums[b] += v }
	})
	r.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: "sse"})
	r.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: "ws"})
	r.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: "sse"})
	r.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: "sse", Outcome: "closed", Duration: time.Second})
	r.Record(metrics.Event{Kind: metrics.Delivered, Transport: "sse", Topic: "a.1", N: 2, Bytes: 20})
	r.Record(metrics.Event{Kind: metrics.Delivered, Transport: "sse", Topic: "b", N: 0, Bytes: 0}) // nothing to add
	r.Record(metrics.Event{Kind: metrics.Kind(255)})

	assert.Equal(t, map[bound]float64{
		{"connections_opened_total", "sse"}:        2,
		{"connections_opened_total", "ws"}:         1,
		{"connections_active", "sse"}:              1,
		{"connections_active", "ws"}:               1,
		{"connections_closed_total", "sse,closed"}: 1,
		{"connection_duration_seconds", "sse"}:     1,
		{"deliveries_total", "sse,a."}:             2,
		{"delivered_bytes_total", "sse,a."}:        20,
	}, sums)
	assert.Len(t, binds, len(sums), "one bind per series")
}
