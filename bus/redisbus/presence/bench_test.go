package presence_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushpull/pushpull/bus/redisbus/presence"
)

// BenchmarkJoinLeave measures a subject's first subscription and its end,
// recorded in Redis (two scripts, Sync waits for them).
func BenchmarkJoinLeave(b *testing.B) {
	ctx := context.Background()
	p := &presence.Redis{Client: client(b), Auth: subjects, Prefix: keyPrefix(b), TTL: time.Minute}
	require.NoError(b, p.Start(ctx))
	defer p.Close()
	for i := 0; b.Loop(); i++ {
		leave := p.Join(ctx, id(fmt.Sprint("s", i%100)), "room")
		leave()
		if err := p.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMembers measures listing a topic of 1,000 members on two
// instances.
func BenchmarkMembers(b *testing.B) {
	ctx := context.Background()
	prefix := keyPrefix(b)
	var ps []*presence.Redis
	for _, name := range []string{"a", "b"} {
		p := &presence.Redis{Client: client(b), Auth: subjects, Prefix: prefix, Instance: name, TTL: time.Minute}
		require.NoError(b, p.Start(ctx))
		defer p.Close()
		ps = append(ps, p)
	}
	for i := range 1000 {
		ps[i%2].Join(ctx, id(fmt.Sprint("s", i)), "room")
	}
	for _, p := range ps {
		require.NoError(b, p.Sync(ctx))
	}
	for b.Loop() {
		ms, err := ps[0].Members(ctx, "room")
		if err != nil || len(ms) != 1000 {
			b.Fatal(len(ms), err)
		}
	}
}
