package payments_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"github.com/pushpull/pushpull/examples/payments"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPaymentsInBrowser opens the consumer's page in one tab and the
// provider's in another, pays, declines and crashes on the provider's page,
// and sees the two stored payments, and only those, appear live on the
// consumer's.
func TestPaymentsInBrowser(t *testing.T) {
	ctx := browsertest.New(t, 60*time.Second)
	b := &bus.Memory{}
	t.Cleanup(func() { _ = b.Close() })
	d := start(t, b, &payments.MemoryStore{Bus: b}, nil)

	// The first tab shows the consumer; a second tab of the same browser
	// drives the provider.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(d.csrv.URL)))
	browsertest.WaitFor(t, ctx, `document.getElementById("live").textContent === "live"`)
	provider, cancel := chromedp.NewContext(ctx)
	defer cancel()
	require.NoError(t, chromedp.Do(provider, chromedp.Navigate(d.psrv.URL)))
	browsertest.WaitFor(t, provider, `document.getElementById("mode").textContent === "memory"`)

	require.NoError(t, chromedp.Do(provider, chromedp.Click(chromedp.ID("succeed"))))
	browsertest.WaitFor(t, provider, `document.getElementById("result").textContent.startsWith("pay_1 stored as succeeded")`)
	require.NoError(t, chromedp.Do(provider, chromedp.Click(chromedp.ID("crash"))))
	browsertest.WaitFor(t, provider, `document.getElementById("result").textContent.startsWith("Rolled back")`)
	require.NoError(t, chromedp.Do(provider, chromedp.Click(chromedp.ID("decline"))))
	browsertest.WaitFor(t, provider, `document.getElementById("result").textContent.startsWith("pay_2 stored as failed")`)
	browsertest.WaitFor(t, provider, `[...document.querySelectorAll("#deliveries tr")].filter(r => r.textContent.includes("delivered")).length === 2`)

	// Newest first: the declined payment on top. Its event was delivered
	// after the first one's, so nothing else can still be on its way.
	browsertest.WaitFor(t, ctx, `document.querySelectorAll("#received tr").length === 2`)
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#received tr")].map(r => r.textContent)`))
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Contains(t, rows[0], "payment.failed")
	assert.Contains(t, rows[0], "pay_2")
	assert.Contains(t, rows[1], "payment.succeeded")
	assert.Contains(t, rows[1], "pay_1")
	assert.Contains(t, rows[1], "12.50 EUR")

	// PUSHPULL_SCREENSHOTS=dir saves both pages, for the README.
	browsertest.Screenshot(t, ctx, "payments-consumer.png")
	browsertest.Screenshot(t, provider, "payments-provider.png")
}
