package webhooktest_test

import (
	"fmt"

	"github.com/pushpull/pushpull/webhook/webhooktest"
)

// Config is a valid endpoint for a store's own tests; RunStore is called
// from a Test function with the store's factory (see the package
// documentation).
func ExampleConfig() {
	c := webhooktest.Config("shop")
	fmt.Println(c.ID, c.Topic, c.Validate())
	// Output: shop orders <nil>
}
