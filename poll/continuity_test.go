package poll_test

import (
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scripted answers each request with the next body of its script.
type scripted struct {
	mu     sync.Mutex
	bodies []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body := `{"messages":[],"cursor":"e-9"}`
	if len(s.bodies) > 0 {
		body, s.bodies = s.bodies[0], s.bodies[1:]
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

// The client drops messages it already delivered and ends with
// bus.ErrCursorExpired rather than skip over a gap.
func TestClientContinuity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{bodies: []string{
			`{"messages":[],"cursor":"e-1"}`,
			`{"messages":[{"id":"e-2","data":"a"},{"id":"e-3","data":"b"}],"cursor":"e-3"}`,
			`{"messages":[{"id":"e-2","data":"a"},{"id":"e-3","data":"b"},{"id":"e-4","data":"c"}],"cursor":"e-4"}`,
			`{"messages":[{"id":"e-6","data":"e"}],"cursor":"e-6"}`,
		}}
		c := &poll.Client{URL: "http://poll.test/", HTTPClient: testnet.Serve(t, &http.Server{Handler: s}), Interval: time.Second}
		sub, err := c.Subscribe(t.Context(), "t", "")
		require.NoError(t, err)
		defer sub.Close()
		var got []string
		for m := range sub.C() {
			got = append(got, string(m.Data))
		}
		assert.Equal(t, []string{"a", "b", "c"}, got)
		assert.ErrorIs(t, sub.Err(), bus.ErrCursorExpired)
		assert.ErrorContains(t, sub.Err(), "does not follow")
	})
}

// A body that is not the wire format ends the subscription with a clear
// error, not a hang or a panic.
func TestClientMalformedAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{bodies: []string{`<html>proxy error</html>`}}
		c := &poll.Client{URL: "http://poll.test/", HTTPClient: testnet.Serve(t, &http.Server{Handler: s})}
		_, err := c.Subscribe(t.Context(), "t", "")
		require.Error(t, err)
		assert.ErrorContains(t, err, "malformed answer")
	})
}
