package longpoll_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Long polls on topics that do not exist, answered at once or held until
// their timeout, leave no topic behind in the broker; the cursor handed out
// stays valid once the topic appears.
func TestLongPollingUnknownTopicsLeavesNoState(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	srv := httptest.NewServer(&longpoll.Handler{Broker: b})
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
		var target string
		switch i % 5 {
		case 0:
			target = fmt.Sprintf("/?topic=ghost.%d&timeout=0", i)
		case 1:
			target = fmt.Sprintf("/?topic=ghost.%d&timeout=0&after=%s", i, bus.Oldest)
		case 2:
			target = fmt.Sprintf("/?topic=ghost.%d&timeout=0&after=%s", i, bus.Origin)
		case 3:
			target = fmt.Sprintf("/?topic=ghost.%d&timeout=0&after=someepoch-4", i)
		default:
			target = fmt.Sprintf("/?topic=ghost.%d&timeout=0.001&after=%s", i, bus.Origin) // held
		}
		require.Contains(t, []int{http.StatusOK, http.StatusNoContent, http.StatusGone}, get(target), target)
	}
	assert.Equal(t, 0, b.Topics())

	c := longpoll.NewClient(srv.URL)
	sub, err := c.Subscribe(t.Context(), "appears", "")
	require.NoError(t, err)
	defer sub.Close()
	m, err := b.Publish(t.Context(), "appears", bus.Message{Data: []byte("hello")})
	require.NoError(t, err)
	assert.Equal(t, m.ID, (<-sub.C()).ID, "the first message after the empty topic's cursor")
}
