package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs the demo on an httptest server.
func start(t *testing.T) (*app, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	a, err := newApp("http://" + srv.Listener.Addr().String())
	require.NoError(t, err)
	srv.Config.Handler = a.routes()
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.dispatcher.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		srv.Close()
		_ = a.bus.Close()
	})
	return a, srv
}

type state struct {
	Failing    bool
	Handled    []string
	Deliveries []struct {
		State    string
		Attempts []struct{ Status int }
	}
}

// getState reads the demo's state; it runs inside Eventually conditions,
// off the test goroutine, so it reports errors instead of failing.
func getState(url string) (state, error) {
	var s state
	resp, err := http.Get(url + "/state")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

func post(t *testing.T, url string) {
	resp, err := http.Post(url, "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestDemoRetriesThroughFailure(t *testing.T) {
	_, srv := start(t)
	post(t, srv.URL+"/failing?on=1")
	post(t, srv.URL+"/publish")
	var s state
	require.Eventually(t, func() bool {
		var err error
		s, err = getState(srv.URL)
		return err == nil && len(s.Deliveries) == 1 && len(s.Deliveries[0].Attempts) >= 1
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, 503, s.Deliveries[0].Attempts[0].Status)
	assert.Empty(t, s.Handled)

	post(t, srv.URL+"/failing?on=0")
	require.Eventually(t, func() bool {
		var err error
		s, err = getState(srv.URL)
		return err == nil && len(s.Handled) == 1 && s.Deliveries[0].State == "delivered"
	}, 10*time.Second, 20*time.Millisecond)
	assert.Contains(t, s.Handled[0], `order.created {"order":1}`)
	http.DefaultClient.CloseIdleConnections()
}

func TestDemoInBrowser(t *testing.T) {
	ctx := browsertest.New(t, 30*time.Second)
	_, srv := start(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL)))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("publish"))))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("publish"))))
	browsertest.WaitFor(t, ctx, `document.querySelectorAll("#handled li").length === 2`)
	browsertest.WaitFor(t, ctx, `[...document.querySelectorAll("#deliveries li")].every(li => li.textContent.includes("delivered: 200"))`)
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#handled").textContent`))
	require.NoError(t, err)
	assert.Contains(t, text, `{"order":2}`)
}
