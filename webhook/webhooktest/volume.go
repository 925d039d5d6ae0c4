package webhooktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RunVolume checks a store past the sizes of RunStore: queries whose
// answers span more than one page of a store's reads (up to
// MaxQueryLimit, with filters that skip half the rows) and prunes that
// remove more than a thousand rows. newStore is called once.
func RunVolume(t *testing.T, newStore func(tb testing.TB) webhook.Store) {
	const (
		attempts = 2100
		letters  = 1100
	)
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := base()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	for i := range attempts {
		status := 200
		if i%2 == 1 {
			status = 500
		}
		require.NoError(t, s.AddAttempt(ctx, attempt("shop", fmt.Sprint("msg_", i), 1, at(i), status)))
	}
	failed, err := s.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "shop", FailedOnly: true, Since: at(100), Limit: webhook.MaxQueryLimit})
	require.NoError(t, err)
	require.Len(t, failed, webhook.MaxQueryLimit)
	for i, a := range failed {
		require.Equal(t, fmt.Sprint("msg_", 101+2*i), a.Delivery, "attempt %d", i)
	}
	n, err := s.PruneAttempts(ctx, at(attempts-50))
	require.NoError(t, err)
	assert.Equal(t, attempts-50, n)
	left, err := s.ListAttempts(ctx, webhook.AttemptQuery{Endpoint: "shop", Limit: webhook.MaxQueryLimit})
	require.NoError(t, err)
	assert.Len(t, left, 50)

	for i := range letters {
		ep := "shop"
		if i%3 == 0 {
			ep = "other"
		}
		require.NoError(t, s.AddDeadLetter(ctx, deadLetter(ep, fmt.Sprint("msg_", i), at(i))))
	}
	all, err := s.ListDeadLetters(ctx, webhook.DeadLetterQuery{Limit: webhook.MaxQueryLimit})
	require.NoError(t, err)
	require.Len(t, all, webhook.MaxQueryLimit)
	for i, dl := range all {
		require.Equal(t, fmt.Sprint("msg_", i), dl.Delivery, "dead letter %d", i)
	}
	shop, err := s.ListDeadLetters(ctx, webhook.DeadLetterQuery{Endpoint: "shop", Since: at(300), Limit: webhook.MaxQueryLimit})
	require.NoError(t, err)
	assert.Len(t, shop, (letters-300)*2/3)
	n, err = s.PruneDeadLetters(ctx, at(letters))
	require.NoError(t, err)
	assert.Equal(t, letters, n)
	all, err = s.ListDeadLetters(ctx, webhook.DeadLetterQuery{})
	require.NoError(t, err)
	assert.Empty(t, all)
}
