package natsbus_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/natsbus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/require"
)

// privateNATS is an embedded server of the test's own, on a fixed loopback
// port and store, so it can be restarted under its clients.
type privateNATS struct {
	t    *testing.T
	port int
	dir  string
	srv  *server.Server
}

func startPrivateNATS(t *testing.T) *privateNATS {
	t.Helper()
	r := &privateNATS{t: t, port: testnet.FreePorts(t, 1)[0], dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateNATS) start() {
	r.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: r.port, JetStream: true, StoreDir: r.dir,
		NoSigs: true, NoLog: true,
	})
	require.NoError(r.t, err)
	srv.Start()
	require.True(r.t, srv.ReadyForConnections(10*time.Second), "nats-server did not start")
	r.srv = srv
}

func (r *privateNATS) stop() {
	if r.srv == nil {
		return
	}
	r.srv.Shutdown()
	r.srv.WaitForShutdown()
	r.srv = nil
}

func (r *privateNATS) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", r.port) }

// The server restarts twice during a stream of 10,000 messages: every
// message is delivered, none twice, none lost silently, and no cursor is
// reset (the stream is kept on disk).
func TestRestart(t *testing.T) {
	if os.Getenv("NATS_URL") != "" {
		t.Log("restarting an embedded server of the test's own, not NATS_URL")
	}
	r := startPrivateNATS(t)
	mk := func() *natsbus.Broker {
		nc, err := nats.Connect(r.url(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		return &natsbus.Broker{Conn: nc, HistorySize: 20000, CheckInterval: time.Second}
	}
	pub, sub := mk(), mk()
	defer pub.Close()
	defer sub.Close()
	bustest.CheckDisruption(t, bustest.Disruption{
		Publisher:  pub,
		Subscriber: sub,
		Topic:      "restart",
		Messages:   10000,
		Disrupt:    func(int) { r.stop(); r.start() },
	})
}
