package refmap_test

import (
	"fmt"

	"github.com/pushpull/pushpull/internal/refmap"
)

type feed struct{ topic string }

func ExampleMap() {
	var feeds refmap.Map[feed]
	open := func(topic string) *feed {
		f, first, _ := feeds.Acquire(topic, func() (*feed, error) { return &feed{topic}, nil })
		fmt.Println("acquired", f.topic, "first:", first)
		return f
	}
	a := open("prices")
	b := open("prices")
	fmt.Println("shared:", a == b)
	fmt.Println("last:", feeds.Release("prices", a))
	fmt.Println("last:", feeds.Release("prices", b))
	// Output:
	// acquired prices first: true
	// acquired prices first: false
	// shared: true
	// last: false
	// last: true
}
