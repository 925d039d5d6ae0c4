package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pushpull/pushpull/examples/internal/browsertest"
	"go.uber.org/goleak"
)

// TestBrowserRuns proves the browser helper works: a page sets a value that
// the test reads back.
func TestBrowserRuns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><title>t</title><script>window.ready = 40 + 2;</script>`))
	}))
	defer srv.Close()
	ctx := browsertest.New(t, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, ctx, "window.ready === 42")
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
