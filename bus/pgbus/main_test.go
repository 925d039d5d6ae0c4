package pgbus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus/pgbus"
	"github.com/pushpull/pushpull/bus/pgbus/internal/pgtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pgURL(tb testing.TB) string { return pgtest.URL(tb) }

// freshPrefix creates the schema under a prefix of the test's own, dropped
// when the test ends.
func freshPrefix(tb testing.TB, url string) string { return pgtest.Prefix(tb, url, pgbus.Migrate) }

// newBroker returns a broker on its own connection pool and prefix.
func newBroker(tb testing.TB, url, prefix string) *pgbus.Broker {
	tb.Helper()
	b, err := pgbus.New(url)
	if err != nil {
		tb.Fatal(err)
	}
	b.Prefix = prefix
	return b
}
