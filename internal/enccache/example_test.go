package enccache_test

import (
	"fmt"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/enccache"
)

func ExampleCache() {
	var c enccache.Cache
	encode := func(m *bus.Message) ([]byte, error) {
		return fmt.Appendf(nil, "%s=%s", m.ID, m.Data), nil
	}
	m := bus.Message{Topic: "prices", ID: "e-7", Data: []byte("42")}
	for range 3 { // three connections send the same message
		b, _ := c.Get(&m, encode)
		fmt.Println(string(b))
	}
	fmt.Println("encoded", c.Encodes(), "time")
	// Output:
	// e-7=42
	// e-7=42
	// e-7=42
	// encoded 1 time
}
