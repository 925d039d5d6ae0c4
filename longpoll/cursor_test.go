package longpoll_test

import (
	"net/http/httptest"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/stretchr/testify/assert"
)

// "" means from now on, as for every bus.Subscriber, and Latest the newest
// message then what follows, on the Handler and the Client alike, and as in
// package poll: a dashboard subscribed with Latest shows the current
// value at once.
func TestCursorMeanings(t *testing.T) {
	t.Parallel()
	assert.Equal(t, pollwire.Latest, longpoll.Latest)
	b := &bus.Memory{}
	t.Cleanup(func() { b.Close() })
	srv := httptest.NewServer(&longpoll.Handler{Broker: b})
	t.Cleanup(srv.Close)
	c := longpoll.NewClient(srv.URL)
	pollwiretest.CheckCursors(t, b, srv.URL, c.Subscribe)
}
