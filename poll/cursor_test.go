package poll_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/poll"
	"github.com/stretchr/testify/assert"
)

// "" means from now on, as for every bus.Subscriber, and Latest the newest
// message then what follows, on the Handler and the Client alike, and as in
// package longpoll: a dashboard subscribed with Latest shows the current
// value at once.
func TestCursorMeanings(t *testing.T) {
	t.Parallel()
	assert.Equal(t, pollwire.Latest, poll.Latest)
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	srv := httptest.NewServer(&poll.Handler{Broker: b, Interval: time.Millisecond})
	t.Cleanup(srv.Close)
	c := &poll.Client{URL: srv.URL, Interval: time.Millisecond}
	pollwiretest.CheckCursors(t, b, srv.URL, c.Subscribe)
}
