package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
)

// The example page subscribes, shows its transport, and publishes what is
// typed into it.
func TestExamplePage(t *testing.T) {
	s := newSite(t, &auto.Handler{}, 0, 0)
	ctx := browsertest.New(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.proxy.URL()+"/")))
	browsertest.WaitFor(t, ctx, `document.getElementById("transport").textContent === "via websocket"`)
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("text").value = "hello page", document.getElementById("f").requestSubmit(), true`))
	require.NoError(t, err)
	browsertest.WaitFor(t, ctx, `document.querySelectorAll("#log li").length === 1`)
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#log li").textContent`))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(text, "hello page (id "), text)
}
