package presence_test

import (
	"context"
	"fmt"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/auth/presence"
)

// The sse and ws Handlers call Join and its leave function themselves;
// here they are called by hand.
func ExampleMemory() {
	p := &presence.Memory{Auth: auth.Public{Subscribe: []string{"room/*"}}}
	ctx := context.Background()
	leaveA := p.Join(ctx, &auth.Identity{Subject: "alice"}, "room/1")
	leaveB := p.Join(ctx, &auth.Identity{Subject: "bob"}, "room/1")
	for _, m := range p.Members("room/1") {
		fmt.Println(m.Subject, m.Conns)
	}
	leaveA()
	leaveB()
	fmt.Println(len(p.Members("room/1")))
	// Output:
	// alice 1
	// bob 1
	// 0
}
