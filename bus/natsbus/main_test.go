package natsbus_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/pushpull/pushpull/bus/natsbus"
	"go.uber.org/goleak"
)

// natsURL is the server the tests use: NATS_URL when set, else a server
// embedded in the test binary.
var natsURL string

func TestMain(m *testing.M) {
	code := run(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func run(m *testing.M) int {
	natsURL = os.Getenv("NATS_URL")
	if natsURL == "" {
		dir, err := os.MkdirTemp("", "natsbus-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		srv, err := server.NewServer(&server.Options{
			Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir,
			MaxPayload: 8 << 20, NoSigs: true, NoLog: true,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "embedded nats-server:", err)
			return 1
		}
		srv.Start()
		defer func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		}()
		if !srv.ReadyForConnections(10 * time.Second) {
			fmt.Fprintln(os.Stderr, "embedded nats-server did not start")
			return 1
		}
		natsURL = srv.ClientURL()
	}
	return m.Run()
}

// connect opens a connection of the test's own, skipping the test when the
// server does not answer (failing it when PUSHPULL_REQUIRE_SERVICES=1).
func connect(tb testing.TB) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		if os.Getenv("PUSHPULL_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("no NATS at %s (NATS_URL): %v", natsURL, err)
		}
		tb.Skipf("no NATS at %s (set NATS_URL, or unset it for an embedded server): %v", natsURL, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

var streamSeq atomic.Int64

// freshStream names a stream and prefix no other test uses, and deletes
// the stream when the test ends.
func freshStream(tb testing.TB) (stream, prefix string) {
	tb.Helper()
	n := streamSeq.Add(1)
	stream = fmt.Sprintf("PPTEST_%d_%d", time.Now().UnixNano(), n)
	prefix = fmt.Sprintf("pptest.%d.%d", time.Now().UnixNano(), n)
	tb.Cleanup(func() {
		nc, err := nats.Connect(natsURL)
		if err != nil {
			return
		}
		defer nc.Close()
		_, _ = nc.Request("$JS.API.STREAM.DELETE."+stream, nil, 5*time.Second)
	})
	return stream, prefix
}

// newBroker returns a broker on its own connection and stream.
func newBroker(tb testing.TB, nc *nats.Conn, stream, prefix string) *natsbus.Broker {
	tb.Helper()
	return &natsbus.Broker{Conn: nc, Stream: stream, Prefix: prefix, MemoryStorage: true}
}
