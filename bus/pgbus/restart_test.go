package pgbus_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/pgbus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/require"
)

// privatePG is a PostgreSQL cluster of the test's own, initialised in a
// temporary directory and listening on a free loopback port, so it can be
// killed and restarted without disturbing anyone. As root (CI), the
// server runs as the postgres user, which owns the directory.
type privatePG struct {
	t    *testing.T
	bin  string // directory of initdb, pg_ctl
	dir  string
	port int
	as   []string // the command prefix that runs as the cluster's owner
}

func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv(testnet.RequireServicesEnv) == "1" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins)
	var bin string
	if len(bins) > 0 {
		bin = filepath.Dir(bins[len(bins)-1])
	} else if p, err := exec.LookPath("initdb"); err == nil {
		bin = filepath.Dir(p)
	} else {
		skip("initdb not found (install PostgreSQL to run this test)")
	}
	dir, err := os.MkdirTemp("", "pgbus-cluster-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := &privatePG{t: t, bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skip("running as root and no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chmod(dir, 0o755))
		require.NoError(t, os.Chown(dir, uid, gid))
		r.as = []string{"runuser", "-u", "postgres", "--"}
	}
	out, err := r.cmd("initdb", "-D", r.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput()
	require.NoError(t, err, "initdb: %s", out)
	r.port = testnet.FreePorts(t, 1)[0]
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privatePG) data() string { return filepath.Join(r.dir, "data") }

func (r *privatePG) cmd(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, r.as...), filepath.Join(r.bin, name)), args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (r *privatePG) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", r.port)
}

func (r *privatePG) start() {
	r.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", r.port, r.dir)
	out, err := r.cmd("pg_ctl", "-D", r.data(), "-o", opts, "-l", filepath.Join(r.dir, "log"), "-w", "-t", "60", "start").CombinedOutput()
	log, _ := os.ReadFile(filepath.Join(r.dir, "log"))
	require.NoError(r.t, err, "pg_ctl start: %s\n%s", out, log)
}

// stop kills the server as a crash would (immediate mode: no checkpoint;
// the next start recovers from the WAL).
func (r *privatePG) stop() {
	_ = r.cmd("pg_ctl", "-D", r.data(), "-m", "immediate", "-w", "stop").Run()
}

// killConnections ends every other connection, as a network failure would.
func (r *privatePG) killConnections() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, r.url())
	require.NoError(r.t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`)
	require.NoError(r.t, err)
}

func (r *privatePG) broker(checkEvery time.Duration) *pgbus.Broker {
	r.t.Helper()
	b, err := pgbus.New(r.url())
	require.NoError(r.t, err)
	b.HistorySize = 20000
	b.CheckInterval = checkEvery
	return b
}

func (r *privatePG) migrate() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, r.url())
	require.NoError(r.t, err)
	defer pool.Close()
	require.NoError(r.t, pgbus.Migrate(ctx, pool, ""))
}

// A server killed and restarted mid-stream, and connections dropped
// mid-stream, lose nothing: committed messages survive in the WAL, the
// offsets go on, and every subscriber resumes without a gap, a duplicate
// or a reset.
func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		disrupt func(r *privatePG)
	}{
		{"KillConnections", func(r *privatePG) { r.killConnections() }},
		{"RestartServer", func(r *privatePG) { r.stop(); r.start() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startPrivatePG(t)
			r.migrate()
			pub, sub := r.broker(time.Second), r.broker(time.Second)
			defer pub.Close()
			defer sub.Close()
			bustest.CheckDisruption(t, bustest.Disruption{
				Publisher:  pub,
				Subscriber: sub,
				Topic:      "restart",
				Messages:   3000,
				Disrupt:    func(int) { tc.disrupt(r) },
				Lossy:      false, // PostgreSQL keeps what it committed
			})
		})
	}
}

// A notification lost while the listener is disconnected, with nothing
// published after it, still arrives: the reconnection triggers a check.
func TestLostNotificationAfterReconnect(t *testing.T) {
	r := startPrivatePG(t)
	r.migrate()
	pub, sub := r.broker(time.Hour), r.broker(time.Hour) // only the reconnection can trigger a check
	defer pub.Close()
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sub.Subscribe(ctx, "lost", "")
	require.NoError(t, err)
	defer s.Close()
	first, err := pub.Publish(ctx, "lost", bus.Message{Data: []byte("first")})
	require.NoError(t, err)
	require.Equal(t, first.ID, bustest.Receive(t, s, 1)[0].ID)

	r.killConnections()
	// Published while the listener may be down: its notification may be
	// gone for good.
	var lost bus.Message
	for {
		lost, err = pub.Publish(ctx, "lost", bus.Message{Data: []byte("lost")})
		if err == nil {
			break
		}
		require.NoError(t, ctx.Err(), "publish: %v", err)
		time.Sleep(10 * time.Millisecond) // the pool's connection was killed too
	}
	require.Equal(t, lost.ID, bustest.Receive(t, s, 1)[0].ID)
}
