package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/examples/internal/browsertest"
)

// TestChatInTwoTabs: ann (WebSocket) and bob (forced to SSE) chat in
// #lobby, both listed as here; bob's message in #random does not show in
// ann's #lobby, and is there when she joins #random; bob closes his tab
// and is gone from her list.
func TestChatInTwoTabs(t *testing.T) {
	ann := browsertest.New(t, 60*time.Second)
	_, srv := newServer(t)
	require.NoError(t, chromedp.Do(ann, chromedp.EmulateViewport(760, 620), chromedp.Navigate(srv.URL+"/?name=ann")))
	bob, cancel := chromedp.NewContext(ann)
	defer cancel()
	require.NoError(t, chromedp.Do(bob, chromedp.Navigate(srv.URL+"/?name=bob&transports=sse")))
	browsertest.WaitFor(t, ann, `window.chat && window.chat.ready === true && document.getElementById("transport").textContent === "websocket"`)
	browsertest.WaitFor(t, bob, `window.chat && window.chat.ready === true && document.getElementById("transport").textContent === "sse"`)
	for _, tab := range []context.Context{ann, bob} {
		browsertest.WaitFor(t, tab, `JSON.stringify(window.chat.people) === '["ann","bob"]' && document.getElementById("people").textContent === "annbob"`)
	}

	say(t, ann, "hello from ann")
	browsertest.WaitFor(t, bob, `window.chat.texts.includes("hello from ann")`)
	browsertest.WaitFor(t, ann, `window.chat.texts.includes("hello from ann") && document.querySelector("#log li.mine") !== null`)
	say(t, bob, "hi ann")
	browsertest.WaitFor(t, ann, `window.chat.texts.includes("hi ann")`)
	browsertest.Screenshot(t, ann, "chat.png")

	click(t, bob, `button[data-room="random"]`)
	browsertest.WaitFor(t, bob, `window.chat.room === "random" && window.chat.transports.length >= 2`)
	say(t, bob, "anyone in random?")
	browsertest.WaitFor(t, bob, `window.chat.texts.includes("anyone in random?")`)
	// ann's #lobby said hello and hi, in order, and nothing from #random: its
	// message was published after "hi ann", which ann has already seen.
	texts, err := chromedp.Run(ann, chromedp.Evaluate[[]string](`window.chat.texts`))
	require.NoError(t, err)
	assert.Equal(t, []string{"hello from ann", "hi ann"}, texts)

	click(t, ann, `button[data-room="random"]`)
	browsertest.WaitFor(t, ann, `window.chat.room === "random" && window.chat.texts.join("|") === "anyone in random?" &&
		JSON.stringify(window.chat.people) === '["ann","bob"]'`)
	// bob closes his tab (one navigated away from may stay in the
	// browser's back-forward cache with its connections open).
	cancel()
	browsertest.WaitFor(t, ann, `JSON.stringify(window.chat.people) === '["ann"]'`)
}

// say sends text from the page in tab, as typing it and pressing Send
// would. Both tabs share one window, so events go through the page, not
// the input devices of the tab in the background.
func say(t *testing.T, tab context.Context, text string) {
	t.Helper()
	q, _ := json.Marshal(text)
	_, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.getElementById("text").value = `+string(q)+`; document.getElementById("f").requestSubmit(); true`))
	require.NoError(t, err)
}

// click clicks the element of the page in tab that selector finds.
func click(t *testing.T, tab context.Context, selector string) {
	t.Helper()
	q, _ := json.Marshal(selector)
	_, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.querySelector(`+string(q)+`).click(); true`))
	require.NoError(t, err)
}
