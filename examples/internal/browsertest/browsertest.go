// Package browsertest starts headless Chromium for the examples' browser
// tests.
//
// Tests skip when no browser is installed, unless PUSHPULL_REQUIRE_BROWSER=1
// (as in CI), when a missing browser fails the test.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium executable, or "" when none is installed.
func Path() string {
	for _, name := range []string{os.Getenv("PUSHPULL_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New returns a chromedp context driving a fresh headless browser with its
// own profile directory. The browser is stopped when the test ends. The
// context also ends after timeout.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		if os.Getenv("PUSHPULL_REQUIRE_BROWSER") == "1" {
			t.Fatal("no Chromium found and PUSHPULL_REQUIRE_BROWSER=1 (apt-get install -y chromium)")
		}
		t.Skip("no Chromium found; install it (apt-get install -y chromium) or set PUSHPULL_CHROMIUM")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelBrowser()
		cancelAlloc()
	})
	// Start the browser now so a broken install fails here, clearly.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium at %s: %v", path, err)
	}
	return ctx
}

// WaitFor polls the JavaScript expression expr in the page until it is
// true, or fails the test when ctx ends. (This chromedp version has a
// generic API: chromedp.Do runs steps, chromedp.Run(ctx, chromedp.Evaluate[T](expr))
// returns a value; see its docs/API.md.)
func WaitFor(t testing.TB, ctx context.Context, expr string) {
	t.Helper()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", expr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ScreenshotsEnv names the directory Screenshot saves pages in; the
// README's pictures come from there (PUSHPULL_SCREENSHOTS=docs/screenshots).
const ScreenshotsEnv = "PUSHPULL_SCREENSHOTS"

// Screenshot saves the whole page of ctx as name in the directory
// $PUSHPULL_SCREENSHOTS when it is set, and does nothing otherwise.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
}
