package presence_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/redisbus/presence"
)

// Two instances of a chat service share one Redis: each lists who is
// online on either.
func ExampleRedis() {
	opt, err := redis.ParseURL(redisAddr) // "redis://127.0.0.1:6379", or REDIS_URL
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	verify := &auth.Bearer{Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
		return &auth.Identity{Subject: tok, Subscribe: []string{"chat/*"}}, nil
	}}
	b := &bus.Memory{} // redisbus in production, shared by the instances
	defer b.Close()

	prefix := fmt.Sprintf("example:presence:%d:", time.Now().UnixNano())
	var instances []*presence.Redis
	for _, name := range []string{"eu-1", "eu-2"} {
		p := &presence.Redis{Client: rdb, Auth: verify, Broker: b, Prefix: prefix, Instance: name}
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		defer p.Close()
		instances = append(instances, p) // each is the Auth of its instance's Handlers
	}
	// The Handlers call Join for every live subscription.
	// (Sync waits for Redis, for the example's output to be in order.)
	leave := instances[0].Join(ctx, &auth.Identity{Subject: "alice"}, "chat/lobby")
	_ = instances[0].Sync(ctx)
	instances[1].Join(ctx, &auth.Identity{Subject: "bob"}, "chat/lobby")
	_ = instances[1].Sync(ctx)
	leave()
	_ = instances[0].Sync(ctx)

	members, err := instances[1].Members(ctx, "chat/lobby")
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range members {
		fmt.Println(m.Subject, "is online")
	}
	events, _ := b.Read(ctx, instances[0].Topic("chat/lobby"), bus.Oldest, 10)
	for _, e := range events {
		fmt.Println(e.Type)
	}
	// Output:
	// bob is online
	// presence.join
	// presence.join
	// presence.leave
}
