package pollwiretest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/pushpull/pushpull/poll"
	"github.com/stretchr/testify/assert"
)

// rewrite gives the cursor from another meaning before the handler sees it.
func rewrite(h http.Handler, from, to string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("after") == from {
			q.Set("after", to)
			r.URL.RawQuery = q.Encode()
		}
		h.ServeHTTP(w, r)
	})
}

// CheckCursors passes a handler that gives the cursors their meaning and
// fails one that gives "" the meaning poll.Handler gave it before
// (the newest message), or one that serves Latest as "".
func TestCheckCursorsCanFail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		from, to string
		failed   bool
	}{
		{"faithful", "none", "none", false},
		{"empty cursor means latest", "", pollwire.Latest, true},
		{"latest means from now on", pollwire.Latest, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &bus.Memory{}
			t.Cleanup(func() { b.Close() })
			srv := httptest.NewServer(rewrite(&poll.Handler{Broker: b}, tc.from, tc.to))
			t.Cleanup(srv.Close)
			c := &poll.Client{URL: srv.URL, Interval: time.Millisecond}
			rec := &failRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				CheckCursors(rec, b, srv.URL, c.Subscribe)
			}()
			<-done
			if tc.failed {
				assert.NotEmpty(t, rec.failures())
			} else {
				assert.Empty(t, rec.failures())
			}
		})
	}
}
