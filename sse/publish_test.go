package sse

import (
	"context"
	"testing"

	"github.com/pushpull/pushpull/bus"
)

// publish publishes messages and returns the stored ones. It runs on the
// test goroutine.
func publish(t *testing.T, b bus.Broker, topic string, msgs ...bus.Message) []bus.Message {
	t.Helper()
	out := make([]bus.Message, len(msgs))
	for i, m := range msgs {
		var err error
		if out[i], err = b.Publish(context.Background(), topic, m); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	return out
}
