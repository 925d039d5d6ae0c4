package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/examples/internal/browsertest"
)

// TestJobInBrowser starts a job on the page and sees its steps arrive one
// by one, then the link to its report, which opens.
func TestJobInBrowser(t *testing.T) {
	ctx := browsertest.New(t, 60*time.Second)
	_, srv := newServer(t, 150*time.Millisecond)

	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(800, 640), chromedp.Navigate(srv.URL)))
	browsertest.WaitFor(t, ctx, `document.getElementById("start") !== null`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("start"))))
	browsertest.WaitFor(t, ctx, `window.jobs.r1 !== undefined && window.jobs.r1.report === "/reports/r1"`)
	percents, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`window.jobs.r1.percents`))
	require.NoError(t, err)
	assert.Len(t, percents, len(steps)+2, "every step shown")
	assert.Equal(t, 100, percents[len(percents)-1])
	// Steps take longer than a request: the page saw them over several
	// held requests, not in one answer at the end.
	reqs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.jobs.r1.requests`))
	require.NoError(t, err)
	assert.Greater(t, reqs, 2)
	browsertest.WaitFor(t, ctx, `document.querySelector("#job-r1 a.report").getAttribute("href") === "/reports/r1"`)
	browsertest.Screenshot(t, ctx, "jobs.png")
	// The link serves the CSV (a click would download it).
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch(document.querySelector("#job-r1 a.report").href).then((r) => r.text()).then((t) => (window.csv = t)) && true`))
	require.NoError(t, err)
	browsertest.WaitFor(t, ctx, `typeof window.csv === "string" && window.csv.startsWith("region,orders")`)
}
