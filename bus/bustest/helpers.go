package bustest

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
)

// Receive takes exactly n messages from sub and returns them. It fails t if
// sub ends first or the messages take longer than 20 seconds. Call it from
// the test goroutine only.
func Receive(t testing.TB, sub bus.Subscription, n int) []bus.Message {
	t.Helper()
	return receive(t, sub, n)
}

// Drain reads sub until its channel closes and returns what it delivered
// and sub.Err(). It fails t if sub has not ended within 20 seconds. Call it
// from the test goroutine only.
func Drain(t testing.TB, sub bus.Subscription) ([]bus.Message, error) {
	t.Helper()
	msgs := ended(t, sub)
	return msgs, sub.Err()
}
