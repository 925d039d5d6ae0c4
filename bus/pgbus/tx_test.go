package pgbus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/bus/bustest"
	"github.com/pushpull/pushpull/bus/pgbus"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// publishTx publishes m in a transaction of its own that commits or rolls
// back.
func publishTx(ctx context.Context, b *pgbus.Broker, pool *pgxpool.Pool, topic string, m bus.Message, commit bool) (bus.Message, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return bus.Message{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	got, err := b.PublishTx(ctx, tx, topic, m)
	if err != nil {
		return bus.Message{}, err
	}
	if !commit {
		return got, tx.Rollback(ctx)
	}
	return got, tx.Commit(ctx)
}

// A rolled-back transaction publishes nothing, not even a hole in the
// offsets; a committed one is delivered once, to an SSE client and to a
// webhook endpoint.
func TestPublishTxReachesSSEAndWebhook(t *testing.T) {
	url := pgURL(t)
	b := newBroker(t, url, freshPrefix(t, url))
	defer b.Close()
	pool := testPool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "orders"

	// An SSE client, through a real handler on the broker.
	h := &sse.Handler{Broker: b}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background()) //nolint:errcheck // test teardown
	viaSSE, err := sse.NewClient(srv.URL).Subscribe(ctx, topic, bus.Origin)
	require.NoError(t, err)
	defer viaSSE.Close()

	// A webhook endpoint, fed by a Dispatcher on the broker; its receiver
	// publishes what it verified to a bus of its own.
	secret, err := webhook.GenerateSecret()
	require.NoError(t, err)
	received := &bus.Memory{}
	defer received.Close()
	viaHook, err := received.Subscribe(ctx, "in", "")
	require.NoError(t, err)
	defer viaHook.Close()
	hookSrv := httptest.NewServer(&webhook.Receiver{Keys: webhook.Secrets(secret), Broker: received, Topic: func(*http.Request) (string, error) { return "in", nil }})
	defer hookSrv.Close()
	d := &webhook.Dispatcher{Broker: b, Sender: &webhook.Sender{AllowPrivateNetworks: true}}
	require.NoError(t, d.Add(webhook.Endpoint{ID: "shop", URL: hookSrv.URL, Keys: webhook.Secrets(secret), Topic: topic, From: bus.Origin}))
	dctx, stopDispatcher := context.WithCancel(ctx)
	dispatched := make(chan error, 1)
	go func() { dispatched <- d.Run(dctx) }()
	defer func() {
		stopDispatcher()
		<-dispatched
	}()

	rolledBack, err := publishTx(ctx, b, pool, topic, bus.Message{Type: "order.created", Data: []byte("rolled back")}, false)
	require.NoError(t, err)
	committed, err := publishTx(ctx, b, pool, topic, bus.Message{Type: "order.created", Data: []byte("committed")}, true)
	require.NoError(t, err)
	marker, err := b.Publish(ctx, topic, bus.Message{Type: "order.marker", Data: []byte("marker")})
	require.NoError(t, err)

	// The rolled-back publication took offset 1 in its transaction; the
	// committed one took it again, so no offset is missing.
	for _, m := range []bus.Message{rolledBack, committed} {
		p, err := m.Position()
		require.NoError(t, err)
		assert.Equal(t, uint64(1), p.Offset, m.ID)
	}
	all, err := b.Read(ctx, topic, bus.Oldest, 0)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, []string{committed.ID, marker.ID}, []string{all[0].ID, all[1].ID})

	// Each consumer gets the committed message, then the marker: the
	// rolled-back one never, the committed one once.
	got := bustest.Receive(t, viaSSE, 2)
	assert.Equal(t, []string{committed.ID, marker.ID}, []string{got[0].ID, got[1].ID})
	assert.Equal(t, "committed", string(got[0].Data))
	got = bustest.Receive(t, viaHook, 2)
	assert.Equal(t, "committed", string(got[0].Data))
	assert.Equal(t, "order.created", got[0].Type)
	assert.Equal(t, "marker", string(got[1].Data))
}

// Until the transaction commits, its message is neither stored for others
// nor delivered; the commit delivers it.
func TestPublishTxInvisibleUntilCommit(t *testing.T) {
	url := pgURL(t)
	b := newBroker(t, url, freshPrefix(t, url))
	defer b.Close()
	pool := testPool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub, err := b.Subscribe(ctx, "t", "")
	require.NoError(t, err)
	defer sub.Close()

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	m, err := b.PublishTx(ctx, tx, "t", bus.Message{Data: []byte("x")})
	require.NoError(t, err)
	// The transaction sees its own message; everyone else sees nothing.
	var n int
	require.NoError(t, tx.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %smessages WHERE topic = 't'`, b.Prefix)).Scan(&n))
	assert.Equal(t, 1, n)
	top, err := b.Top(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, bus.Origin, top)
	msgs, err := b.Read(ctx, "t", bus.Oldest, 0)
	require.NoError(t, err)
	assert.Empty(t, msgs)
	select {
	case got := <-sub.C():
		t.Fatalf("delivered before commit: %s", got.ID)
	default:
	}
	require.NoError(t, tx.Commit(ctx))
	assert.Equal(t, m.ID, bustest.Receive(t, sub, 1)[0].ID)
}

// Eight publishers at once, in transactions of which some roll back, plus
// plain publications: the committed messages hold offsets 1..n with no
// hole, and a subscriber gets them in that order.
func TestConcurrentTransactionsContiguous(t *testing.T) {
	url := pgURL(t)
	b := newBroker(t, url, freshPrefix(t, url))
	defer b.Close()
	pool := testPool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sub, err := b.Subscribe(ctx, "c", bus.Origin)
	require.NoError(t, err)
	defer sub.Close()

	const publishers, each = 8, 60
	var (
		mu        sync.Mutex
		committed = map[string]string{} // ID -> data
		errs      = make(chan error, publishers)
	)
	for i := range publishers {
		go func() {
			for j := range each {
				data := fmt.Sprintf("%d:%d", i, j)
				var m bus.Message
				var err error
				switch j % 3 {
				case 0:
					m, err = b.Publish(ctx, "c", bus.Message{Data: []byte(data)})
				case 1:
					m, err = publishTx(ctx, b, pool, "c", bus.Message{Data: []byte(data)}, true)
				default:
					_, err = publishTx(ctx, b, pool, "c", bus.Message{Data: []byte(data)}, false)
				}
				if err != nil {
					errs <- err
					return
				}
				if m.ID != "" {
					mu.Lock()
					committed[m.ID] = data
					mu.Unlock()
				}
			}
			errs <- nil
		}()
	}
	for range publishers {
		require.NoError(t, <-errs)
	}
	n := publishers * each * 2 / 3
	require.Len(t, committed, n, "an ID was handed out twice")
	all, err := b.Read(ctx, "c", bus.Oldest, 0)
	require.NoError(t, err)
	require.Len(t, all, n)
	got := bustest.Receive(t, sub, n)
	for i, m := range all {
		p, err := m.Position()
		require.NoError(t, err)
		require.Equal(t, uint64(i+1), p.Offset, "offsets are contiguous")
		require.Equal(t, committed[m.ID], string(m.Data))
		require.Equal(t, m.ID, got[i].ID)
	}
}

// PublishTx validates like Publish, and an aborted transaction's error is
// the database's.
func TestPublishTxErrors(t *testing.T) {
	url := pgURL(t)
	b := newBroker(t, url, freshPrefix(t, url))
	defer b.Close()
	pool := testPool(t, url)
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := b.PublishTx(ctx, tx, "bad topic", bus.Message{})
		return err
	})
	require.ErrorIs(t, err, bus.ErrInvalidTopic)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, _ = tx.Exec(ctx, "SELECT 1/0") // aborts the transaction
		_, err := b.PublishTx(ctx, tx, "t", bus.Message{})
		return err
	})
	require.Error(t, err)
	assert.False(t, errors.Is(err, bus.ErrClosed))
	top, err := b.Top(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, bus.Origin, top)
}
