package webhookstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pushpull/pushpull/webhook"
	"github.com/redis/go-redis/v9"
)

// Store is a webhook.Store on Redis: everything a Dispatcher persists,
// shared by every instance that uses the same Redis and Prefix. It holds
// the cursors (in the keys of [Cursors]), the endpoint registry, the
// leases, the attempt log and the dead letters. Every change that touches
// several keys is one Lua script, so it is atomic; times that decide
// (lease expiry, Created, Updated) are the Redis server's clock.
//
// Make it with NewStore. Prefix must not be changed after the first call.
// A Store is safe for concurrent use; it starts no goroutine.
type Store struct {
	// Prefix starts every key. Empty means DefaultPrefix. On Redis
	// Cluster, put a hash tag in it ("{webhooks}:") so that every key of
	// the store lives in one slot, as the scripts need.
	Prefix string
	// Secrets, when set, seals the endpoints' secrets and header values
	// in Redis and opens them on reading (webhook.SecretCipher); values
	// stored in the clear before are read as they are and sealed at their
	// next write. Nil stores them in the clear. It must not be changed
	// after the first call.
	Secrets *webhook.SecretCipher

	client redis.UniversalClient
}

var _ webhook.Store = (*Store)(nil)

// NewStore returns a Store on the Redis of client.
func NewStore(client redis.UniversalClient) *Store {
	return &Store{client: client}
}

func (s *Store) key(parts ...string) string {
	k := prefix(s.Prefix)
	for _, p := range parts {
		k += p
	}
	return k
}

// Load implements webhook.CursorStore, on the keys of Cursors.
func (s *Store) Load(ctx context.Context, key string) (string, error) {
	if s.client == nil {
		return "", errNoStoreClient
	}
	return (&Cursors{Prefix: s.Prefix, client: s.client}).Load(ctx, key)
}

// Save implements webhook.CursorStore, on the keys of Cursors.
func (s *Store) Save(ctx context.Context, key, cursor string) error {
	if s.client == nil {
		return errNoStoreClient
	}
	return (&Cursors{Prefix: s.Prefix, client: s.client}).Save(ctx, key, cursor)
}

// acquireScript takes a free or expired lease, or renews the holder's, for
// ARGV[2] milliseconds; Redis expires the key by its own clock.
var acquireScript = redis.NewScript(`
local h = redis.call('GET', KEYS[1])
if h and h ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// releaseLeaseScript deletes a lease only while holder holds it.
var releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// AcquireLease implements webhook.Leases.
func (s *Store) AcquireLease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	if s.client == nil {
		return false, errNoStoreClient
	}
	if holder == "" {
		return false, errors.New("webhookstore: acquire lease: empty holder")
	}
	n, err := acquireScript.Run(ctx, s.client, []string{s.key("lease:", key)}, holder, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, fmt.Errorf("webhookstore: acquire lease: %w", err)
	}
	return n == 1, nil
}

// ReleaseLease implements webhook.Leases.
func (s *Store) ReleaseLease(ctx context.Context, key, holder string) error {
	if s.client == nil {
		return errNoStoreClient
	}
	if err := releaseLeaseScript.Run(ctx, s.client, []string{s.key("lease:", key)}, holder).Err(); err != nil {
		return fmt.Errorf("webhookstore: release lease: %w", err)
	}
	return nil
}

// errNoStoreClient is the error of a Store made without NewStore.
var errNoStoreClient = errors.New("webhookstore: no Redis client; make the store with NewStore")

// micros returns t in microseconds since the Unix epoch, as the sorted
// sets score times, and the nanoseconds beyond.
func micros(t time.Time) (int64, int) {
	return t.UnixMicro(), t.Nanosecond() % 1000
}

// scoreRange returns the scores of sorted-set members whose time may lie
// in [since, until): the bounds to the microsecond, an empty bound open.
// Members on a bound are filtered exactly by the caller.
func scoreRange(since, until time.Time) (string, string) {
	lo, hi := "-inf", "+inf"
	if !since.IsZero() {
		lo = strconv.FormatInt(since.UnixMicro(), 10)
	}
	if !until.IsZero() {
		us, ns := micros(until)
		hi = strconv.FormatInt(us, 10)
		if ns == 0 {
			hi = "(" + hi
		}
	}
	return lo, hi
}
