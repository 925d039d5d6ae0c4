package poll_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/poll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Polling topics that do not exist, with and without cursors, leaves no
// topic behind in the broker; the cursor handed out stays valid once the
// topic appears.
func TestPollingUnknownTopicsLeavesNoState(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	srv := httptest.NewServer(&poll.Handler{Broker: b})
	defer srv.Close()
	get := func(target string) int {
		t.Helper()
		res, err := srv.Client().Get(srv.URL + target)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		require.NoError(t, res.Body.Close())
		return res.StatusCode
	}
	for i := range 20000 {
		var code int
		switch i % 4 {
		case 0:
			code = get(fmt.Sprintf("/?topic=ghost.%d", i))
		case 1:
			code = get(fmt.Sprintf("/?topic=ghost.%d&after=%s", i, bus.Oldest))
		case 2:
			code = get(fmt.Sprintf("/?topic=ghost.%d&after=%s", i, bus.Origin))
		default:
			code = get(fmt.Sprintf("/?topic=ghost.%d&after=someepoch-4", i))
		}
		require.Contains(t, []int{http.StatusOK, http.StatusGone}, code)
	}
	assert.Equal(t, 0, b.Topics())

	c := poll.NewClient(srv.URL)
	sub, err := c.Subscribe(t.Context(), "appears", "")
	require.NoError(t, err)
	defer sub.Close()
	m, err := b.Publish(t.Context(), "appears", bus.Message{Data: []byte("hello")})
	require.NoError(t, err)
	assert.Equal(t, m.ID, (<-sub.C()).ID, "the first message after the empty topic's cursor")
}
