package longpoll_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Handler holding MaxHeld requests answers 503 and closes the connection,
// so that a keep-alive client's next attempt may reach another instance.
func TestHandlerFullClosesConnection(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &longpoll.Handler{Broker: b, MaxHeld: 1}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?topic=full&timeout=20", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			held <- nil
			return
		}
		held <- resp
	}()
	for h.Held() == 0 {
		require.NoError(t, ctx.Err(), "the request was never held")
		time.Sleep(time.Millisecond)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?topic=other&timeout=5", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.True(t, resp.Close, "Connection: close")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	_, err = b.Publish(ctx, "full", bus.Message{})
	require.NoError(t, err)
	if r := <-held; r != nil {
		r.Body.Close()
	}
}
