package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runCLI runs the command with args and the JSON report, and returns its
// exit status, the report and what it printed.
func runCLI(t *testing.T, args ...string) (int, Result, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	status := cli(append(args, "-cpus", "", "-json", path), &stdout, &stderr)
	var rep Report
	if b, err := os.ReadFile(path); err == nil {
		require.NoError(t, json.Unmarshal(b, &rep), "JSON report")
	}
	require.Len(t, rep.Results, 1)
	return status, *rep.Results[0], stdout.String() + stderr.String()
}

// TestEveryTransport runs a tiny load on every transport, with two
// connections cut during it: every subscriber gets every message exactly
// once, a cut stream comes back as a resume, and the report has its
// figures.
func TestEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			status, r, out := runCLI(t, "-transport", tr, "-subs", "3", "-rate", "40", "-size", "200",
				"-duration", "1s", "-warmup", "250ms", "-drain", "20s", "-poll", "100ms", "-kill", "2")
			require.Equal(t, 0, status, out)
			if !strings.Contains(tr, "poll") {
				// A killed stream or WebSocket is always an open one, and
				// its client connects again; a polling client's request
				// is retried by net/http itself, unseen.
				assert.Equal(t, 2, r.Killed, "killed")
				assert.GreaterOrEqual(t, r.Resumes, int64(r.Killed), "resumes")
			}
			assert.Equal(t, tr, r.Config.Transport)
			assert.Equal(t, 50, r.Published)
			assert.Equal(t, int64(150), r.Expected)
			assert.Equal(t, int64(150), r.Delivered)
			assert.InDelta(t, 100, r.DeliveredPct, 1e-9)
			assert.Zero(t, r.Lost, "lost")
			assert.Zero(t, r.Duplicated, "duplicated")
			assert.Zero(t, r.Bad, "not understood")
			assert.Empty(t, r.Errors)
			assert.Positive(t, r.P50, "p50")
			assert.GreaterOrEqual(t, r.P99, r.P50)
			assert.Positive(t, r.CPUPer1000, "CPU per 1,000")
			assert.Positive(t, r.GorPerConn, "goroutines per connection")
			if tr != "poll" {
				assert.Positive(t, r.Opened, "connections opened")
			}
			assert.Equal(t, 50, r.Published)
			assert.NotEmpty(t, r.Load, "load average")
			for _, field := range []string{"delivered", "lost, duplicated", "latency p50, p99", "server CPU / 1,000 deliveries",
				"server memory / connection", "server goroutines / connection", "cuts, resumes", "publisher on schedule"} {
				assert.Contains(t, out, field)
			}
			assert.Contains(t, out, tr+" ", "progress line")
		})
	}
}

// TestIdle opens idle connections: memory and goroutines per connection
// are reported, nothing is published.
func TestIdle(t *testing.T) {
	for _, tr := range []string{"sse", "bare-ws"} {
		status, r, out := runCLI(t, "-transport", tr, "-subs", "5", "-idle")
		require.Equal(t, 0, status, out)
		assert.True(t, r.Config.Idle)
		assert.Zero(t, r.Published)
		assert.Positive(t, r.MemPerConn, tr)
		assert.Positive(t, r.GorPerConn, tr)
		assert.Equal(t, int64(5), r.Opened, tr)
		assert.Contains(t, out, "idle connections")
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	writeMarkdown(&b, []*Result{
		{Config: Config{Transport: "sse", Subs: 2, Rate: 5}, DeliveredPct: 100, OnSchedule: true},
		{Config: Config{Transport: "ws", Subs: 7, Idle: true}, MemPerConn: 2048},
	})
	assert.Contains(t, b.String(), "| sse | 2 × 5 | 100.00 % |")
	assert.Contains(t, b.String(), "| ws | 7 idle |")
	assert.Contains(t, b.String(), "| 2.0 KiB |")
}

func TestBadArguments(t *testing.T) {
	var out bytes.Buffer
	assert.Equal(t, 2, cli([]string{"-no-such-flag"}, &out, &out))
	assert.Equal(t, 2, cli([]string{"stray"}, &out, &out))
	assert.Equal(t, 0, cli([]string{"-h"}, &out, &out))
	assert.Equal(t, 2, cli([]string{"-transport", "carrier-pigeon"}, &out, &out))
	assert.Contains(t, out.String(), `unknown transport "carrier-pigeon"`)
	assert.Equal(t, 2, cli([]string{"-subs", "0"}, &out, &out))
	assert.Equal(t, 2, cli([]string{"-cpus", "one"}, &out, &out))
	assert.Contains(t, out.String(), `bad CPU "one"`)
	assert.Equal(t, 2, cli([]string{"-cpus", "4096"}, &out, &out))
	assert.Contains(t, out.String(), "this machine has CPUs 0 to")
	assert.Equal(t, 2, cli([]string{"-kill", "-1"}, &out, &out))
}

func TestPayload(t *testing.T) {
	at := time.Now().UnixNano()
	for _, size := range []int{0, 10, 40, 256, 4096} {
		b := appendPayload(nil, 123456, at, size)
		if size >= 64 {
			assert.Len(t, b, size)
		}
		assert.True(t, json.Valid(b), "%s", b)
		n, got, err := parsePayload(b)
		require.NoError(t, err)
		assert.Equal(t, 123456, n)
		assert.Equal(t, at, got)
	}
	for _, bad := range []string{"", "{}", `{"n":0,"at":1}`, `{"n":1}`, `{"n":1,"at":2x`, `{"n":x,"at":2}`} {
		_, _, err := parsePayload([]byte(bad))
		assert.ErrorIs(t, err, errPayload, bad)
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add(appendPayload(nil, 7, 1700000000000000000, 64))
	f.Add([]byte(`{"n":99999999999999999999,"at":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, at, err := parsePayload(b)
		if err != nil {
			return
		}
		require.Positive(t, n)
		back := appendPayload(nil, n, at, 0)
		n2, at2, err := parsePayload(back)
		require.NoError(t, err)
		require.Equal(t, n, n2)
		require.Equal(t, at, at2)
	})
}

func TestTallyCountsDuplicatesAndLoss(t *testing.T) {
	tl := newTally(100, 10)
	now := time.Now()
	for _, n := range []int{1, 2, 2, 50, 11} {
		tl.record(appendPayload(nil, n, now.Add(-3*time.Millisecond).UnixNano(), 0), now)
	}
	tl.record([]byte("not a payload"), now)
	tl.record(appendPayload(nil, 100000, now.UnixNano(), 0), now) // beyond what is published
	assert.Equal(t, int64(4), tl.distinct.Load())
	assert.Equal(t, int64(1), tl.dups.Load())
	assert.Equal(t, int64(2), tl.bad.Load())
	assert.Equal(t, int64(50), tl.lastSeq.Load())
	// Only 50 and 11 are past the warm-up.
	p50 := tl.lat.quantile(0.5)
	assert.InDelta(t, float64(3*time.Millisecond), float64(p50), float64(200*time.Microsecond))
}

func TestHistogram(t *testing.T) {
	var h histogram
	assert.Zero(t, h.quantile(0.5))
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(c.q)
		assert.InEpsilon(t, float64(c.want), float64(got), 0.04, "q%v: %v", c.q, got)
	}
	var small histogram
	small.add(5 * time.Microsecond)
	small.add(-time.Second)
	assert.Equal(t, 5*time.Microsecond, small.quantile(1))
	var m histogram
	m.merge(&h)
	m.merge(&small)
	assert.Equal(t, h.quantile(0.5), m.quantile(0.5)+0, "two tiny values barely move the median")
}

func TestParseCPUs(t *testing.T) {
	c, err := parseCPUs(" 0, 1 ")
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1}, c)
	c, err = parseCPUs("")
	require.NoError(t, err)
	assert.Empty(t, c)
	_, err = parseCPUs("-1")
	assert.Error(t, err)
	assert.Equal(t, "0,3", joinInts([]int{0, 3}))
}

// TestSeveralTransports runs two transports twice, in turn: the report
// holds the four results in that order and the summary their medians.
func TestSeveralTransports(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	profiles := filepath.Join(t.TempDir(), "profiles")
	status := cli([]string{"-transport", "bare-sse,sse", "-rounds", "2", "-subs", "2", "-rate", "20",
		"-duration", "500ms", "-warmup", "0s", "-drain", "20s", "-cpus", "", "-json", path, "-profile", profiles}, &stdout, &stderr)
	require.Equal(t, 0, status, stdout.String()+stderr.String())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Len(t, rep.Results, 4)
	for i, want := range []string{"bare-sse", "sse", "bare-sse", "sse"} {
		r := rep.Results[i]
		assert.Equal(t, want, r.Config.Transport)
		assert.Equal(t, int64(20), r.Delivered, want)
		assert.Zero(t, r.Lost+r.Duplicated, want)
	}
	for _, name := range []string{"1-bare-sse-server.pprof", "1-bare-sse-generator.pprof", "4-sse-server.pprof", "4-sse-generator.pprof", "4-sse-server-allocs.pprof"} {
		fi, err := os.Stat(filepath.Join(profiles, name))
		if assert.NoError(t, err) {
			assert.Positive(t, fi.Size(), name)
		}
	}
	assert.Contains(t, stdout.String(), "bare-sse median of 2")
	assert.Contains(t, stdout.String(), "sse median of 2")
}

func TestMedian(t *testing.T) {
	rs := []*Result{
		{CPUPer1000: 3, P50: 1, Lost: 0, OnSchedule: true},
		{CPUPer1000: 1, P50: 5, Lost: 10, OnSchedule: false},
		{CPUPer1000: 2, P50: 3, Lost: 2, OnSchedule: true},
	}
	m := median(rs)
	assert.InDelta(t, 2, m.CPUPer1000, 1e-9)
	assert.InDelta(t, 3, m.P50, 1e-9)
	assert.Equal(t, int64(2), m.Lost)
	assert.True(t, m.OnSchedule)
	m = median(rs[:2])
	assert.InDelta(t, 2, m.CPUPer1000, 1e-9)
	assert.False(t, m.OnSchedule, "one of two is not a majority")
}
