package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer serves a fresh app whose steps take step.
func newServer(t *testing.T, step time.Duration) (*app, *httptest.Server) {
	t.Helper()
	b := &bus.Memory{}
	a := newApp(b, step)
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		_ = a.lp.Shutdown(context.Background())
		srv.Close()
		a.Close()
		_ = b.Close()
	})
	return a, srv
}

// startJob starts a job and returns its id.
func startJob(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Post(url+"/jobs", "", nil)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusAccepted, res.StatusCode)
	var j struct{ ID string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&j))
	return j.ID
}

// TestJobProgressOverLongPolling follows a job with the long-polling
// client from its first message: every step in order, percentages rising
// to 100, then a report that can be fetched.
func TestJobProgressOverLongPolling(t *testing.T) {
	_, srv := newServer(t, 5*time.Millisecond)
	id := startJob(t, srv.URL)
	assert.Equal(t, "r1", id)
	assert.Equal(t, "r2", startJob(t, srv.URL), "each job has its own id")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := longpoll.NewClient(srv.URL + "/longpoll?job=" + id)
	sub, err := c.Subscribe(ctx, "jobs/"+id, bus.Oldest)
	require.NoError(t, err)
	defer sub.Close()
	var got []Progress
	for m := range sub.C() {
		var p Progress
		require.NoError(t, json.Unmarshal(m.Data, &p))
		got = append(got, p)
		if m.Type == "job.done" {
			break
		}
		assert.Equal(t, "job.progress", m.Type)
	}
	require.Len(t, got, len(steps)+2, "queued, every step, done")
	for i := 1; i < len(got); i++ {
		assert.Greater(t, got[i].Percent, got[i-1].Percent)
	}
	assert.Equal(t, "Queued", got[0].Message)
	assert.Equal(t, steps[2], got[3].Message)
	last := got[len(got)-1]
	assert.Equal(t, 100, last.Percent)
	require.Equal(t, "/reports/"+id, last.Report)

	res, err := http.Get(srv.URL + last.Report)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Contains(t, string(body), "region,orders,revenue_eur,change_pct\nNorth,")
}

// TestJobRefusals: unknown reports are 404, a malformed job id 400, and a
// job not yet started holds the poll rather than failing.
func TestJobRefusals(t *testing.T) {
	_, srv := newServer(t, time.Hour)
	for path, want := range map[string]int{
		"/reports/r1":                        http.StatusNotFound,
		"/longpoll?job=../etc&after=0":       http.StatusBadRequest,
		"/longpoll?after=0":                  http.StatusBadRequest,
		"/longpoll?job=r9&after=0&timeout=0": http.StatusOK,
		"/jobs":                              http.StatusMethodNotAllowed,
	} {
		res, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, want, res.StatusCode, path)
	}
	id := startJob(t, srv.URL)
	res, err := http.Get(srv.URL + "/reports/" + id)
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusNotFound, res.StatusCode, "no report before the job is done")

	// Steps take an hour here: the jobs pile up until the cap.
	for range maxRunning - 1 {
		startJob(t, srv.URL)
	}
	res, err = http.Post(srv.URL+"/jobs", "", nil)
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, "5", res.Header.Get("Retry-After"))
}
