package bus_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/pushpull/pushpull/bus"
)

// Publish and subscribe on the in-memory broker.
func Example() {
	ctx := context.Background()
	b := &bus.Memory{}
	defer b.Close()

	sub, err := b.Subscribe(ctx, "orders", "") // only new messages
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	for _, id := range []string{"a1", "b2"} {
		if _, err := b.Publish(ctx, "orders", bus.Message{Type: "order.created", Data: []byte(id)}); err != nil {
			panic(err)
		}
	}
	for range 2 {
		m := <-sub.C()
		fmt.Println(m.Type, string(m.Data))
	}
	// Output:
	// order.created a1
	// order.created b2
}

// A consumer that went away resumes after the last ID it saw: no gap, no
// duplicate.
func Example_resume() {
	ctx := context.Background()
	b := &bus.Memory{}
	defer b.Close()

	var lastSeen string
	for i := 1; i <= 5; i++ {
		m, _ := b.Publish(ctx, "ticks", bus.Message{Data: fmt.Appendf(nil, "tick %d", i)})
		if i == 2 {
			lastSeen = m.ID // the consumer saw ticks 1 and 2, then dropped
		}
	}

	sub, err := b.Subscribe(ctx, "ticks", lastSeen)
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	prev, _ := bus.ParseID(lastSeen)
	for range 3 {
		m := <-sub.C()
		p, _ := m.Position()
		fmt.Println(string(m.Data), p.Follows(prev))
		prev = p
	}
	// Output:
	// tick 3 true
	// tick 4 true
	// tick 5 true
}

// A cursor the broker can no longer serve is refused with ErrCursorExpired and
// the current top, after which the consumer reloads and continues.
func Example_expired() {
	ctx := context.Background()
	b := &bus.Memory{HistorySize: 3}
	defer b.Close()

	first, _ := b.Publish(ctx, "prices", bus.Message{Data: []byte("1")})
	for i := 2; i <= 6; i++ {
		_, _ = b.Publish(ctx, "prices", bus.Message{Data: fmt.Appendf(nil, "%d", i)})
	}

	_, err := b.Subscribe(ctx, "prices", first.ID)
	fmt.Println(errors.Is(err, bus.ErrCursorExpired))

	top, _ := bus.TopOf(err)
	latest, _ := b.Read(ctx, "prices", "", 1) // reload: the current state
	fmt.Println(top == latest[0].ID, string(latest[0].Data))
	// Output:
	// true
	// true 6
}

// A subscriber that shows a current value starts with the newest message:
// LatestCursor resolves bus.Latest to the cursor that message follows.
func ExampleLatestCursor() {
	ctx := context.Background()
	b := &bus.Memory{}
	defer b.Close()
	for _, price := range []string{"101", "102", "103"} {
		_, _ = b.Publish(ctx, "prices", bus.Message{Data: []byte(price)})
	}
	cursor, err := bus.LatestCursor(ctx, b, "prices")
	if err != nil {
		panic(err)
	}
	sub, err := b.Subscribe(ctx, "prices", cursor)
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	_, _ = b.Publish(ctx, "prices", bus.Message{Data: []byte("104")})
	for range 2 {
		fmt.Println(string((<-sub.C()).Data))
	}
	// Output:
	// 103
	// 104
}
