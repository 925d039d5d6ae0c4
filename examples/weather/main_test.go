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
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get polls the app as the page does and returns the status, the ETag and
// the decoded answer (empty for a 304).
func get(t *testing.T, url, after, etag string) (int, string, struct {
	Messages []struct{ Data string }
	Cursor   string
}) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/poll?after="+after, nil)
	require.NoError(t, err)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var ans struct {
		Messages []struct{ Data string }
		Cursor   string
	}
	if res.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(body, &ans), string(body))
	} else {
		assert.Empty(t, body)
	}
	return res.StatusCode, res.Header.Get("ETag"), ans
}

// TestPollCurrentThen304 follows the page: latest gives the current
// report, the same question with the answer's ETag gives 304 until the next
// report, which the next poll returns alone.
func TestPollCurrentThen304(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	srv := httptest.NewServer(newApp(b, 250*time.Millisecond))
	defer srv.Close()
	st := newStations(1)
	ctx := context.Background()
	for range 3 {
		require.NoError(t, st.publish(ctx, b))
	}

	code, etag, ans := get(t, srv.URL, "latest", "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, ans.Messages, 1, "latest is the current report only")
	var r Report
	require.NoError(t, json.Unmarshal([]byte(ans.Messages[0].Data), &r))
	assert.Equal(t, 3, r.Seq)
	assert.Len(t, r.Readings, 4)
	require.NotEmpty(t, etag)

	code, etag2, _ := get(t, srv.URL, ans.Cursor, etag)
	assert.Equal(t, http.StatusNotModified, code, "nothing new after the cursor")
	assert.Equal(t, etag, etag2)

	require.NoError(t, st.publish(ctx, b))
	code, etag3, ans2 := get(t, srv.URL, ans.Cursor, etag)
	require.Equal(t, http.StatusOK, code)
	assert.NotEqual(t, etag, etag3)
	require.Len(t, ans2.Messages, 1)
	require.NoError(t, json.Unmarshal([]byte(ans2.Messages[0].Data), &r))
	assert.Equal(t, 4, r.Seq)

	res, err := http.Get(srv.URL + "/poll?after=latest")
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, "0.25", res.Header.Get("X-Poll-Interval"))
}

// TestStationsStayPlausible walks the simulation a long way: values stay
// in range and each report is a copy the next step does not change.
func TestStationsStayPlausible(t *testing.T) {
	st := newStations(7)
	first := st.next(time.Now())
	saved := first.Readings[0]
	for range 5000 {
		r := st.next(time.Now())
		for _, c := range r.Readings {
			assert.GreaterOrEqual(t, c.WindKmh, 0.0)
			assert.True(t, c.Humidity >= 0 && c.Humidity <= 100, c.Humidity)
			assert.Contains(t, skies, c.Sky)
		}
	}
	assert.Equal(t, saved, first.Readings[0])
	assert.Equal(t, 5001, st.seq)
}
