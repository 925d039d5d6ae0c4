package poll_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushpull/pushpull/poll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A client URL that is not absolute http or https is refused at once, not
// retried until the context ends.
func TestClientRefusesUnsupportedURL(t *testing.T) {
	for _, u := range []string{"ftp://example.com/events", "/events", "example.com/events", "http:///events"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sub, err := poll.NewClient(u).Subscribe(ctx, "t", "")
		cancel()
		require.Error(t, err, u)
		assert.Nil(t, sub, u)
		assert.Contains(t, err.Error(), "poll: client URL", u)
		assert.NotErrorIs(t, err, context.DeadlineExceeded, u)
	}
}
