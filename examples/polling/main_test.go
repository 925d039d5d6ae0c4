package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The page follows the topic with fetch, by short and by long polling, and
// shows every message published, text and binary, in order.
func TestBrowserShowsMessages(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	a := newApp(b, 200*time.Millisecond)
	srv := httptest.NewServer(a.routes())
	defer srv.Close()
	defer a.longpoll.Shutdown(context.Background())

	ctx := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?topic=browser")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, ctx, "window.ready.poll && window.ready.longpoll")

	for _, data := range [][]byte{[]byte("first"), []byte("second ✓"), {0xff, 0x00, 0x10}} {
		if _, err := b.Publish(context.Background(), "browser", bus.Message{Type: "demo", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	want := `JSON.stringify(["first","second ✓","base64:ff0010"])`
	browsertest.WaitFor(t, ctx, "JSON.stringify(window.received.longpoll) === "+want)
	browsertest.WaitFor(t, ctx, "JSON.stringify(window.received.poll) === "+want)
	// With nothing new, the short-polling page gets 304 Not Modified.
	browsertest.WaitFor(t, ctx, "window.statuses.poll.includes(304)")
	// The list shows them too.
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("longpoll").innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "demo: first\ndemo: second ✓\ndemo: base64:ff0010"; text != want {
		t.Fatalf("long-poll list shows %q, want %q", text, want)
	}
}
