package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"github.com/pushpull/pushpull/webhook"
)

// TestPortalInBrowser opens the shop's portal from the home page's link:
// delivered orders show; an order refused while the consumer is down shows
// as dead with a Retry button; once the consumer is up, a click on Retry
// delivers it and the row turns delivered.
func TestPortalInBrowser(t *testing.T) {
	ctx := browsertest.New(t, 60*time.Second)
	a, srv := start(t)
	for range 3 {
		_, err := a.publish(t.Context())
		require.NoError(t, err)
	}

	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1200, 520), chromedp.Navigate(srv.URL)))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#portal")))
	browsertest.WaitFor(t, ctx, `location.pathname === "/portal/" && location.hash === ""`) // the token left the address bar
	browsertest.WaitFor(t, ctx, `document.querySelectorAll('#rows tr[data-state="delivered"]').length === 3`)

	a.down.Store(true)
	m, err := a.publish(t.Context())
	require.NoError(t, err)
	row := `#rows tr[data-state="%s"][data-id="` + webhook.MessageID(m) + `"]`
	browsertest.WaitFor(t, ctx, `document.querySelector('`+fmt.Sprintf(row, "dead")+` button.retry') !== null`)
	browsertest.WaitFor(t, ctx, `document.querySelector('`+fmt.Sprintf(row, "dead")+` .status').textContent.startsWith("500")`)
	browsertest.WaitFor(t, ctx, `document.querySelector('`+fmt.Sprintf(row, "dead")+` .response').textContent.includes("handling failed")`)
	browsertest.Screenshot(t, ctx, "webhookops.png")

	a.down.Store(false)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(fmt.Sprintf(row, "dead")+` button.retry`)))
	browsertest.WaitFor(t, ctx, `window.portal.retries === 1`)
	browsertest.WaitFor(t, ctx, `document.querySelector('`+fmt.Sprintf(row, "delivered")+`') !== null`)
	browsertest.WaitFor(t, ctx, `document.querySelectorAll('#rows tr[data-state="delivered"]').length === 4 && document.querySelectorAll("#rows button.retry").length === 0`)
	browsertest.WaitFor(t, ctx, `window.portal.error === ""`)
}
