package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/examples/internal/measure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// compare starts the running program again as the server: here, the
	// test binary.
	measure.ServeIfChild(childEnv, serveChild)
	goleak.VerifyTestMain(m)
}

// TestCompareTiny runs the command on every pattern with a tiny workload
// and one forced disconnect: every client must get every message exactly
// once, and the JSON and SVG files must parse.
func TestCompareTiny(t *testing.T) {
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	status := cli([]string{"-clients", "3", "-rate", "20", "-size", "100", "-duration", "1500ms",
		"-poll", "200ms", "-disconnects", "1", "-drain", "30s", "-json", jsonPath, "-svg", svgPath})
	require.Equal(t, 0, status, "exit status")

	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Len(t, rep.Results, len(patterns))
	for i, r := range rep.Results {
		assert.Equal(t, patterns[i], r.Pattern)
		assert.Equal(t, 30, r.Published, r.Pattern)
		assert.Equal(t, int64(90), r.Deliveries, "%s: deliveries", r.Pattern)
		assert.Zero(t, r.Lost, "%s: lost", r.Pattern)
		assert.Zero(t, r.Duplicated, "%s: duplicated", r.Pattern)
		assert.Empty(t, r.Errors, r.Pattern)
		assert.Equal(t, 1, r.Cuts, r.Pattern)
		assert.Positive(t, r.CutConns, "%s: the cut closed no connection", r.Pattern)
		assert.Positive(t, r.Latency.P50, r.Pattern)
		assert.GreaterOrEqual(t, r.Latency.Max, r.Latency.P99, r.Pattern)
		assert.Positive(t, r.Requests, r.Pattern)
		assert.Positive(t, r.Bytes, r.Pattern)
		assert.Positive(t, r.GorClient, r.Pattern)
	}

	f, err := os.Open(svgPath)
	require.NoError(t, err)
	defer f.Close()
	d := xml.NewDecoder(f)
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "SVG")
	}
}

func TestSinkCountsDuplicatesAndLoss(t *testing.T) {
	var total atomic.Int64
	s := newSink(3, &total)
	now := time.Now()
	s.deliver(encodeTick(tick{Seq: 1, T: now.UnixNano()}, 0), now)
	s.deliver(encodeTick(tick{Seq: 1, T: now.UnixNano()}, 0), now)
	s.deliver(encodeTick(tick{Seq: 3, T: now.UnixNano()}, 0), now)
	s.deliver([]byte("not a tick"), now)
	s.deliver(encodeTick(tick{Seq: 4, T: now.UnixNano()}, 0), now) // beyond what was published
	assert.Equal(t, 2, s.distinct)
	assert.Equal(t, 1, s.dups)
	assert.Equal(t, 2, s.bad)
	assert.Equal(t, int64(2), total.Load())

	assert.Empty(t, Result{}.failed())
	assert.Equal(t, "1 lost; 2 duplicated; boom", Result{Lost: 1, Duplicated: 2, Errors: []string{"boom"}}.failed())
}

func TestEncodeTick(t *testing.T) {
	for _, size := range []int{0, 30, 64, 256, 4096} {
		b := encodeTick(tick{Seq: 12345, T: time.Now().UnixNano()}, size)
		if size >= 64 {
			assert.Len(t, b, size)
		}
		var got tick
		require.NoError(t, json.Unmarshal(b, &got))
		assert.Equal(t, 12345, got.Seq)
	}
}

func TestLatency(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := latency(d)
	assert.Equal(t, Latency{P50: 50, P95: 95, P99: 99, Max: 100}, l)
	assert.Equal(t, Latency{}, latency(nil))
}

func TestConfigCheck(t *testing.T) {
	cfg := defaultConfig()
	require.NoError(t, cfg.check())
	cfg.Patterns = []string{"carrier-pigeon"}
	assert.ErrorContains(t, cfg.check(), "carrier-pigeon")
	assert.Equal(t, 2, cli([]string{"-no-such-flag"}))
	assert.Equal(t, 2, cli([]string{"stray"}))
	assert.Equal(t, 0, cli([]string{"-h"}))
	assert.Equal(t, 1, cli([]string{"-patterns", "carrier-pigeon"}))
}
