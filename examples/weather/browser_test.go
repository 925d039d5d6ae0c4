package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
)

// TestDashboardInBrowser opens the page: it shows the current report,
// counts 304s while nothing changes, and shows the next report once it is
// published.
func TestDashboardInBrowser(t *testing.T) {
	ctx := browsertest.New(t, 60*time.Second)
	b := &bus.Memory{}
	defer b.Close()
	srv := httptest.NewServer(newApp(b, 50*time.Millisecond))
	defer srv.Close()
	st := newStations(3)
	require.NoError(t, st.publish(context.Background(), b))
	require.NoError(t, st.publish(context.Background(), b))

	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(900, 640), chromedp.Navigate(srv.URL)))
	browsertest.WaitFor(t, ctx, `window.report !== null && window.report.seq === 2 && document.querySelectorAll("#cities .card").length === 4`)
	browsertest.WaitFor(t, ctx, `window.stats.notModified >= 3 && document.getElementById("notModified").textContent !== "0"`)
	require.NoError(t, st.publish(context.Background(), b))
	browsertest.WaitFor(t, ctx, `window.report.seq === 3 && document.getElementById("seq").textContent === "#3"`)
	browsertest.WaitFor(t, ctx, `window.stats.updates === 2 && window.stats.bytes > 0`)
	browsertest.Screenshot(t, ctx, "weather.png")
}
