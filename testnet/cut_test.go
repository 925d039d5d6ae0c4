package testnet

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const cutBody = "0123456789"

// get requests url with hc and reports whether the whole answer came.
func get(hc *http.Client, url string) bool {
	resp, err := hc.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return err == nil && string(b) == cutBody
}

func TestCutter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		rate     float64
		min, max int // cuts out of about 100 requests
	}{
		{name: "none", rate: 0, min: 0, max: 0},
		{name: "all", rate: 1, min: 100, max: 100},
		{name: "a fifth", rate: 0.2, min: 8, max: 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var served atomic.Int64
				c := &Cutter{Rate: tc.rate, Seed: 1, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					served.Add(1)
					select { // a held request, ended by the client leaving
					case <-r.Context().Done():
						return
					case <-time.After(time.Second):
					}
					_, _ = io.WriteString(w, cutBody)
				})}
				hc := Serve(t, &http.Server{Handler: c})
				failed := 0
				for range 100 {
					if !get(hc, "http://any.test/") {
						failed++
					}
				}
				// The client retries a GET whose reused connection closed
				// before any answer, so some cuts do not fail a request.
				assert.LessOrEqual(t, failed, c.Cuts(), "only cut requests fail")
				assert.GreaterOrEqual(t, c.Cuts(), tc.min)
				assert.LessOrEqual(t, c.Cuts(), tc.max)
				if tc.rate > 0 {
					assert.Positive(t, failed, "cuts in the middle of an answer fail")
				}
				if tc.rate == 1 {
					assert.Less(t, served.Load(), int64(100), "some requests are cut before the handler runs")
					assert.Positive(t, served.Load(), "others while or after it runs")
				}
			})
		})
	}
}

// The same seed cuts the same requests.
func TestCutterSeed(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) string {
		var out strings.Builder
		synctest.Test(t, func(t *testing.T) {
			c := &Cutter{Rate: 0.5, Seed: seed, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, cutBody)
			})}
			hc := Serve(t, &http.Server{Handler: c})
			for range 40 {
				if get(hc, "http://any.test/") {
					out.WriteByte('.')
				} else {
					out.WriteByte('x')
				}
			}
		})
		return out.String()
	}
	a := run(3)
	require.Contains(t, a, "x")
	require.Contains(t, a, ".")
	assert.Equal(t, a, run(3))
	assert.NotEqual(t, a, run(4))
}
