package httptopic

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFromRequest(t *testing.T) {
	mux := http.NewServeMux()
	var got string
	var gotErr error
	mux.HandleFunc("/t/{topic}", func(w http.ResponseWriter, r *http.Request) { got, gotErr = FromRequest(r) })
	mux.HandleFunc("/q", func(w http.ResponseWriter, r *http.Request) { got, gotErr = FromRequest(r) })
	for _, tc := range []struct{ url, want string }{
		{"/t/news", "news"},
		{"/q?topic=orders.eu", "orders.eu"},
		{"/t/news?topic=other", "news"},
	} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.url, nil))
		require.NoError(t, gotErr, tc.url)
		assert.Equal(t, tc.want, got, tc.url)
	}
	for _, url := range []string{"/q", "/q?topic=", "/q?topic=a%20b", "/t/a%0Ab"} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", url, nil))
		assert.ErrorIs(t, gotErr, bus.ErrInvalidTopic, url)
	}
}

func TestResolve(t *testing.T) {
	r := httptest.NewRequest("GET", "/?topic=x", nil)
	got, err := Resolve(r, nil)
	require.NoError(t, err)
	assert.Equal(t, "x", got)
	got, err = Resolve(r, func(*http.Request) (string, error) { return "fixed", nil })
	require.NoError(t, err)
	assert.Equal(t, "fixed", got)
	_, err = Resolve(r, func(*http.Request) (string, error) { return "bad topic", nil })
	assert.ErrorIs(t, err, bus.ErrInvalidTopic)
	boom := errors.New("boom")
	_, err = Resolve(r, func(*http.Request) (string, error) { return "", boom })
	assert.ErrorIs(t, err, boom)
}
