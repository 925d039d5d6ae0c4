package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newsPanels are the panels that show the news topic as it is.
var newsPanels = []string{"poll", "longpoll", "sse", "ws", "auto"}

// openPage opens the showcase at base in a fresh browser, 1280 pixels
// wide, as name in the chat, and waits until every panel is connected.
func openPage(t *testing.T, base, name string, timeout time.Duration) context.Context {
	t.Helper()
	ctx := browsertest.New(t, timeout)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/?name="+name)))
	waitConnected(t, ctx)
	return ctx
}

// waitConnected waits until every panel of the page in tab is connected
// and both pollers have a cursor.
func waitConnected(t *testing.T, tab context.Context) {
	t.Helper()
	browsertest.WaitFor(t, tab, "window.ready === true")
	browsertest.WaitFor(t, tab, `document.querySelector("#sse .state").textContent === "open" &&
		document.querySelector("#webhook .state").textContent === "open" &&
		document.querySelector("#ws .state").textContent === "open" &&
		window.transports.at(-1) === "websocket" &&
		!!window.cursors.poll && !!window.cursors.longpoll`)
}

// evalJS returns the value of the JavaScript expression expr in tab.
func evalJS[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// clickOn clicks the element selector finds in tab.
func clickOn(t *testing.T, tab context.Context, selector string) {
	t.Helper()
	q, _ := json.Marshal(selector)
	evalJS[bool](t, tab, `document.querySelector(`+string(q)+`).click(); true`)
}

// TestShowcaseBrowser loads the page in headless Chromium: every panel
// shows every message, in order, exactly once; the server's counts of
// every panel show on it; forged and replayed webhooks are shown refused
// and publish nothing; the measured matrix is there.
// PUSHPULL_SCREENSHOTS=dir saves the page there as showcase.png.
func TestShowcaseBrowser(t *testing.T) {
	_, base := start(t)
	ctx := openPage(t, base, "ann", 90*time.Second)
	for _, text := range []string{"one", "two", "three"} {
		publish(t, base, text)
	}
	for _, panel := range newsPanels {
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`JSON.stringify(window.seen.%s) === '["one","two","three"]'`, panel))
	}
	// The webhook panel shows the inbox: what the Receiver verified.
	browsertest.WaitFor(t, ctx, `JSON.stringify(window.seen.webhook) === '["one","two","three"]'`)

	// The server counted requests, bytes, messages and a latency for
	// every panel, and the page shows them.
	for _, panel := range append(newsPanels, "webhook") {
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`(s => s && s.requests > 0 && s.bytes > 0 && s.messages >= 3 && s.latency_ms > 0)(window.stats && window.stats.panels[%q])`, panel))
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`document.querySelectorAll("#%s .nums dd").length === 5 && document.querySelector("#%s .nums dd:nth-of-type(1)") !== null`, panel, panel))
	}
	// The signature headers of the last delivery, and its attempt.
	browsertest.WaitFor(t, ctx, `/webhook-signature: v1,/.test(document.getElementById("sig").textContent) &&
		document.querySelectorAll("#attempts tr").length >= 3`)
	assert.Contains(t, evalJS[string](t, ctx, `document.getElementById("schedule").textContent`), "1s → 2s → 5s")

	clickOn(t, ctx, "#forge")
	browsertest.WaitFor(t, ctx, `window.tries.length === 1`)
	forged := evalJS[map[string]any](t, ctx, `window.tries[0]`)
	assert.Equal(t, 401.0, forged["status"], "%v", forged)
	assert.Equal(t, false, forged["published"])
	clickOn(t, ctx, "#replay")
	browsertest.WaitFor(t, ctx, `window.tries.length === 2`)
	replayed := evalJS[map[string]any](t, ctx, `window.tries[1]`)
	assert.Equal(t, 200.0, replayed["status"], "%v", replayed)
	assert.Equal(t, "duplicate", replayed["answer"])
	assert.Equal(t, false, replayed["published"])
	assert.Contains(t, evalJS[string](t, ctx, `document.getElementById("tries").textContent`), "refused")
	// Neither reached the inbox: the next message is the fourth there.
	publish(t, base, "four")
	browsertest.WaitFor(t, ctx, `window.seen.webhook.at(-1) === "four"`)
	assert.Equal(t, []string{"one", "two", "three", "four"}, evalJS[[]string](t, ctx, `window.seen.webhook`))

	// The measured matrix: one row per pattern, nothing lost.
	browsertest.WaitFor(t, ctx, `document.querySelectorAll("#matrixtable tbody tr").length === 5`)
	browsertest.WaitFor(t, ctx, `JSON.stringify(window.chat.people) === '["ann"]'`)
	evalJS[bool](t, ctx, `document.getElementById("chattext").value = "hello, anyone?"; document.getElementById("chatform").requestSubmit(); true`)
	browsertest.WaitFor(t, ctx, `document.getElementById("chatlog").textContent === "ann: hello, anyone?"`)

	if dir := os.Getenv("PUSHPULL_SCREENSHOTS"); dir != "" {
		// No scrollbar: the image is the page's full 1280 pixels wide.
		evalJS[bool](t, ctx, `document.documentElement.style.overflow = "hidden"; true`)
		browsertest.WaitFor(t, ctx, `document.documentElement.clientWidth === 1280`)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "showcase.png"), png, 0o644))
	}
}

// TestShowcaseBrowserDrop drops every panel's connection at the server;
// each resumes from its cursor and shows that nothing is missing.
func TestShowcaseBrowserDrop(t *testing.T) {
	a, base := start(t)
	ctx := openPage(t, base, "ann", 120*time.Second)
	publish(t, base, "before")
	for _, panel := range append(newsPanels, "webhook") {
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`window.seen.%s.includes("before")`, panel))
	}
	// The held connections are open at the server before they are cut.
	for _, panel := range []string{panelLongpoll, panelSSE, panelWS, panelAuto, panelInbox} {
		for a.meters[panel].open() == 0 {
			require.NoError(t, ctx.Err(), "%s: no connection open", panel)
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, panel := range append(newsPanels, "webhook") {
		clickOn(t, ctx, fmt.Sprintf(`button.drop[data-panel=%q]`, panel))
		// The server has answered: the cut is done (the webhook's is armed).
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`document.querySelector("#%s .note").textContent.includes(" cut")`, panel))
	}
	for _, text := range []string{"after 1", "after 2"} {
		publish(t, base, text)
	}
	for _, panel := range append(newsPanels, "webhook") {
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`JSON.stringify(window.seen.%s) === '["before","after 1","after 2"]'`, panel))
		note := evalJS[string](t, ctx, fmt.Sprintf(`window.resumed.%s[0] || ""`, panel))
		assert.Regexp(t, `^resumed from \S+-\d+, 0 missing$`, note, panel)
		assert.Equal(t, 0, evalJS[int](t, ctx, fmt.Sprintf(`window.missing.%s`, panel)), panel)
	}
	// The cuts were real: each held connection was closed at the server,
	// and the webhook's next delivery failed once and was retried.
	for _, panel := range []string{panelLongpoll, panelSSE, panelWS, panelAuto, panelInbox} {
		assert.Positive(t, a.meters[panel].drops.Load(), panel)
	}
	attempts := a.hooks.stats(nil).Attempts
	assert.True(t, slices.ContainsFunc(attempts, func(a attemptView) bool { return a.N == 2 && a.Status == http.StatusOK }), "%+v", attempts)
	assert.True(t, slices.ContainsFunc(attempts, func(a attemptView) bool { return a.N == 1 && a.Error != "" && a.NextMS > 0 }), "%+v", attempts)
}

// TestShowcaseBrowserFallback switches the fallback panel's transports
// off one by one at the server: the client falls back to the next, with
// no message missing, and returns to WebSocket once it is switched on.
func TestShowcaseBrowserFallback(t *testing.T) {
	_, base := start(t)
	ctx := openPage(t, base, "ann", 120*time.Second)
	sent := 0
	step := func(block, want string) {
		t.Helper()
		clickOn(t, ctx, fmt.Sprintf(`#switches input[data-transport=%q]`, block))
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`window.transports.at(-1) === %q`, want))
		sent++
		publish(t, base, fmt.Sprintf("via %s", want))
		browsertest.WaitFor(t, ctx, fmt.Sprintf(`window.seen.auto.length === %d && window.seen.auto.at(-1) === "via %s"`, sent, want))
	}
	step("websocket", "sse")
	step("sse", "longpoll")
	step("longpoll", "poll")
	assert.Equal(t, "poll", evalJS[string](t, ctx, `document.getElementById("transport").textContent`))
	// Switching websocket on again: the client tries the better
	// transports again and returns to it.
	step("websocket", "websocket")
	assert.Equal(t, 0, evalJS[int](t, ctx, `window.missing.auto`))
}

// TestShowcaseBrowserChat: two tabs chat; both names are listed as
// online, and one that leaves is gone from the other's list.
func TestShowcaseBrowserChat(t *testing.T) {
	_, base := start(t)
	ann := openPage(t, base, "ann", 90*time.Second)
	bob, cancel := chromedp.NewContext(ann)
	defer cancel()
	require.NoError(t, chromedp.Do(bob, chromedp.Navigate(base+"/?name=bob")))
	waitConnected(t, bob)
	for _, tab := range []context.Context{ann, bob} {
		browsertest.WaitFor(t, tab, `JSON.stringify(window.chat.people) === '["ann","bob"]'`)
	}
	evalJS[bool](t, bob, `document.getElementById("chattext").value = "hi ann"; document.getElementById("chatform").requestSubmit(); true`)
	browsertest.WaitFor(t, ann, `window.chat.texts.includes("hi ann")`)
	// bob closes his tab (a page navigated away from may stay in the
	// browser's back-forward cache with its connections open).
	cancel()
	browsertest.WaitFor(t, ann, `JSON.stringify(window.chat.people) === '["ann"]' &&
		document.getElementById("people").textContent === "ann"`)
}
