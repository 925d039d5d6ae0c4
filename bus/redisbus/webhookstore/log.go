package webhookstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
	"github.com/redis/go-redis/v9"
)

// storedAttempt is the form an Attempt is kept in: every field, exactly.
type storedAttempt struct {
	Delivery string    `json:"delivery"`
	Endpoint string    `json:"endpoint"`
	Message  string    `json:"message,omitempty"`
	Type     string    `json:"type,omitempty"`
	N        int       `json:"n"`
	At       time.Time `json:"at"`
	Status   int       `json:"status,omitempty"`
	Latency  int64     `json:"latency_ns,omitempty"`
	Error    string    `json:"error,omitempty"`
	Response []byte    `json:"response,omitempty"`
	Next     int64     `json:"next_ns,omitempty"`
}

func storeAttempt(a webhook.Attempt) storedAttempt {
	return storedAttempt{
		Delivery: a.Delivery, Endpoint: a.Endpoint, Message: a.Message, Type: a.Type, N: a.N, At: a.At,
		Status: a.Status, Latency: int64(a.Latency), Error: a.Error, Response: a.Response, Next: int64(a.Next),
	}
}

func (s storedAttempt) attempt() webhook.Attempt {
	return webhook.Attempt{
		Delivery: s.Delivery, Endpoint: s.Endpoint, Message: s.Message, Type: s.Type, N: s.N, At: s.At.UTC(),
		Status: s.Status, Latency: time.Duration(s.Latency), Error: s.Error, Response: s.Response, Next: time.Duration(s.Next),
	}
}

// attemptHead is the length of the head of an attempt's member: three
// digits of nanoseconds beyond the score's microsecond, then a sequence
// number of twenty digits, so members of one score sort by time, then in
// the order they were added.
const attemptHead = 3 + 20

// addAttemptScript adds an attempt to its endpoint's sorted set, under
// the next sequence number, and lists the endpoint.
var addAttemptScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2] .. string.format('%020d', n) .. ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
return n
`)

// AddAttempt implements webhook.AttemptLog. The attempts of an endpoint
// are one sorted set scored by At.
func (s *Store) AddAttempt(ctx context.Context, a webhook.Attempt) error {
	if s.client == nil {
		return errNoStoreClient
	}
	data, err := json.Marshal(storeAttempt(a))
	if err == nil {
		us, ns := micros(a.At)
		keys := []string{s.key("attempts:", a.Endpoint), s.key("attempt-seq"), s.key("attempt-endpoints")}
		err = addAttemptScript.Run(ctx, s.client, keys, us, fmt.Sprintf("%03d", ns), data, a.Endpoint).Err()
	}
	if err != nil {
		return fmt.Errorf("webhookstore: add attempt: %w", err)
	}
	return nil
}

// scanPage is how many members a query reads from a sorted set at once.
const scanPage = 500

// scanRange calls fn with the members of the sorted set key scored in
// [lo, hi], in order, a page at a time, until fn returns false or the
// range ends. The first page is want members (what a query without
// filters needs), the next ones scanPage.
func (s *Store) scanRange(ctx context.Context, key, lo, hi string, want int, fn func(member string) (bool, error)) error {
	count := int64(min(want, scanPage))
	for offset := int64(0); ; offset += count {
		if offset > 0 {
			count = scanPage
		}
		page, err := s.client.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: key, Start: lo, Stop: hi, ByScore: true, Offset: offset, Count: count,
		}).Result()
		if err != nil {
			return err
		}
		for _, m := range page {
			more, err := fn(m)
			if err != nil || !more {
				return err
			}
		}
		if int64(len(page)) < count {
			return nil
		}
	}
}

// ListAttempts implements webhook.AttemptLog: a range of the endpoint's
// sorted set by At, filtered by q.Match.
func (s *Store) ListAttempts(ctx context.Context, q webhook.AttemptQuery) ([]webhook.Attempt, error) {
	if s.client == nil {
		return nil, errNoStoreClient
	}
	if q.Endpoint == "" {
		return nil, errors.New("webhookstore: list attempts: the query has no Endpoint")
	}
	limit := webhook.QueryLimit(q.Limit)
	var out []webhook.Attempt
	lo, hi := scoreRange(q.Since, q.Until)
	err := s.scanRange(ctx, s.key("attempts:", q.Endpoint), lo, hi, limit, func(m string) (bool, error) {
		if len(m) < attemptHead {
			return false, fmt.Errorf("stored attempt %.40q is too short", m)
		}
		var sa storedAttempt
		if err := json.Unmarshal([]byte(m[attemptHead:]), &sa); err != nil {
			return false, fmt.Errorf("stored attempt: %w", err)
		}
		if a := sa.attempt(); q.Match(a) {
			out = append(out, a)
		}
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("webhookstore: list attempts: %w", err)
	}
	return out, nil
}

// pruneScript removes up to ARGV[3] members of KEYS[1] older than the
// time (ARGV[1] microseconds, ARGV[2] the three digits of nanoseconds
// beyond), and unlists the endpoint ARGV[4] from KEYS[2] once its set is
// empty. It returns how many it removed.
var pruneScript = redis.NewScript(`
local old = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
local n = #old
if n > 0 then redis.call('ZREM', KEYS[1], unpack(old)) end
if n < tonumber(ARGV[3]) then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[1], 'BYSCORE')) do
    if string.sub(m, 1, 3) < ARGV[2] then redis.call('ZREM', KEYS[1], m); n = n + 1 end
  end
end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[4]) end
return n
`)

// pruneBatch is the most members pruneScript removes at once.
const pruneBatch = 1000

// PruneAttempts implements webhook.AttemptLog: for each endpoint that has
// attempts, scripts that each remove a thousand at most.
func (s *Store) PruneAttempts(ctx context.Context, before time.Time) (int, error) {
	if s.client == nil {
		return 0, errNoStoreClient
	}
	n, err := s.pruneSets(ctx, "attempt-endpoints", func(ep string) (int, error) {
		us, ns := micros(before)
		keys := []string{s.key("attempts:", ep), s.key("attempt-endpoints")}
		return pruneScript.Run(ctx, s.client, keys, us, fmt.Sprintf("%03d", ns), pruneBatch, ep).Int()
	})
	if err != nil {
		return n, fmt.Errorf("webhookstore: prune attempts: %w", err)
	}
	return n, nil
}

// pruneSets calls prune for each endpoint of the set key until it
// removes less than pruneBatch, and returns the sum.
func (s *Store) pruneSets(ctx context.Context, set string, prune func(ep string) (int, error)) (int, error) {
	eps, err := s.client.SMembers(ctx, s.key(set)).Result()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, ep := range eps {
		for {
			n, err := prune(ep)
			total += n
			if err != nil {
				return total, err
			}
			if n < pruneBatch {
				break
			}
		}
	}
	return total, nil
}

// storedDeadLetter is the form a DeadLetter is kept in: the message as
// bus.AppendRecord writes it, beside its topic and ID.
type storedDeadLetter struct {
	Endpoint string          `json:"endpoint"`
	Delivery string          `json:"delivery"`
	Topic    string          `json:"topic"`
	ID       string          `json:"id"`
	Record   []byte          `json:"record"`
	Attempts []storedAttempt `json:"attempts,omitempty"`
	Error    string          `json:"error,omitempty"`
	At       time.Time       `json:"at"`
}

func (s storedDeadLetter) deadLetter() (webhook.DeadLetter, error) {
	dl := webhook.DeadLetter{Endpoint: s.Endpoint, Delivery: s.Delivery, Error: s.Error, At: s.At.UTC()}
	dl.Message.Topic, dl.Message.ID = s.Topic, s.ID
	if err := bus.DecodeRecord(s.Record, &dl.Message); err != nil {
		return dl, err
	}
	for _, a := range s.Attempts {
		dl.Attempts = append(dl.Attempts, a.attempt())
	}
	return dl, nil
}

// addDeadScript stores a dead letter in its endpoint's hash, by delivery,
// scores it in the endpoint's sorted set, and lists the endpoint.
var addDeadScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
`)

// removeDeadScript removes the dead letters ARGV[2...] of endpoint ARGV[1]
// and unlists the endpoint once it has none; it returns how many it
// removed.
var removeDeadScript = redis.NewScript(`
local n = 0
for i = 2, #ARGV do
  n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return n
`)

func (s *Store) deadKeys(endpoint string) []string {
	return []string{s.key("dead:", endpoint), s.key("dead-at:", endpoint), s.key("dead-endpoints")}
}

// AddDeadLetter implements webhook.DeadLetterStore. The dead letters of
// an endpoint are a hash by delivery and a sorted set of the deliveries
// scored by At.
func (s *Store) AddDeadLetter(ctx context.Context, dl webhook.DeadLetter) error {
	if s.client == nil {
		return errNoStoreClient
	}
	sd := storedDeadLetter{
		Endpoint: dl.Endpoint, Delivery: dl.Delivery, Topic: dl.Message.Topic, ID: dl.Message.ID,
		Record: bus.AppendRecord(nil, &dl.Message), Error: dl.Error, At: dl.At,
	}
	for _, a := range dl.Attempts {
		sd.Attempts = append(sd.Attempts, storeAttempt(a))
	}
	data, err := json.Marshal(sd)
	if err == nil {
		err = addDeadScript.Run(ctx, s.client, s.deadKeys(dl.Endpoint), dl.Delivery, data, dl.At.UnixMicro(), dl.Endpoint).Err()
	}
	if err != nil {
		return fmt.Errorf("webhookstore: add dead letter: %w", err)
	}
	return nil
}

// deadLetters reads the dead letters of endpoint scored in [lo, hi] that
// match q, in order of At, up to limit.
func (s *Store) deadLetters(ctx context.Context, endpoint, lo, hi string, q webhook.DeadLetterQuery, limit int) ([]webhook.DeadLetter, error) {
	keys := s.deadKeys(endpoint)
	var out []webhook.DeadLetter
	var page []string
	flush := func() error {
		if len(page) == 0 {
			return nil
		}
		vals, err := s.client.HMGet(ctx, keys[0], page...).Result()
		page = page[:0]
		if err != nil {
			return err
		}
		for _, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // removed meanwhile
			}
			var sd storedDeadLetter
			if err := json.Unmarshal([]byte(str), &sd); err != nil {
				return fmt.Errorf("stored dead letter: %w", err)
			}
			dl, err := sd.deadLetter()
			if err != nil {
				return fmt.Errorf("stored dead letter: %w", err)
			}
			if q.Match(dl) && len(out) < limit {
				out = append(out, dl)
			}
		}
		return nil
	}
	err := s.scanRange(ctx, keys[1], lo, hi, limit, func(m string) (bool, error) {
		page = append(page, m)
		if len(page) < min(limit-len(out), scanPage) {
			return true, nil
		}
		err := flush()
		return len(out) < limit, err
	})
	if err == nil {
		err = flush()
	}
	// Members of one score come in byte order of delivery; order them
	// by their exact time.
	slices.SortStableFunc(out, func(a, b webhook.DeadLetter) int { return a.At.Compare(b.At) })
	return out, err
}

// ListDeadLetters implements webhook.DeadLetterStore. Without an
// Endpoint it reads each endpoint's dead letters and merges them by At.
func (s *Store) ListDeadLetters(ctx context.Context, q webhook.DeadLetterQuery) ([]webhook.DeadLetter, error) {
	if s.client == nil {
		return nil, errNoStoreClient
	}
	limit := webhook.QueryLimit(q.Limit)
	eps := []string{q.Endpoint}
	if q.Endpoint == "" {
		var err error
		if eps, err = s.client.SMembers(ctx, s.key("dead-endpoints")).Result(); err != nil {
			return nil, fmt.Errorf("webhookstore: list dead letters: %w", err)
		}
	}
	lo, hi := scoreRange(q.Since, q.Until)
	var out []webhook.DeadLetter
	for _, ep := range eps {
		dls, err := s.deadLetters(ctx, ep, lo, hi, q, limit)
		if err != nil {
			return nil, fmt.Errorf("webhookstore: list dead letters: %w", err)
		}
		out = append(out, dls...)
	}
	slices.SortStableFunc(out, func(a, b webhook.DeadLetter) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Endpoint, b.Endpoint), cmp.Compare(a.Delivery, b.Delivery))
	})
	return out[:min(len(out), limit)], nil
}

// RemoveDeadLetter implements webhook.DeadLetterStore.
func (s *Store) RemoveDeadLetter(ctx context.Context, endpoint, delivery string) error {
	if s.client == nil {
		return errNoStoreClient
	}
	n, err := removeDeadScript.Run(ctx, s.client, s.deadKeys(endpoint), endpoint, delivery).Int()
	if err == nil && n == 0 {
		err = webhook.ErrDeadLetterNotFound
	}
	if err != nil {
		return fmt.Errorf("webhookstore: remove dead letter %s of %s: %w", delivery, endpoint, err)
	}
	return nil
}

// PruneDeadLetters implements webhook.DeadLetterStore: for each endpoint
// with dead letters, the deliveries scored before before are read and
// removed a thousand at a time; those of before's own microsecond are
// read to compare their exact time.
func (s *Store) PruneDeadLetters(ctx context.Context, before time.Time) (int, error) {
	if s.client == nil {
		return 0, errNoStoreClient
	}
	us := strconv.FormatInt(before.UnixMicro(), 10)
	n, err := s.pruneSets(ctx, "dead-endpoints", func(ep string) (int, error) {
		keys := s.deadKeys(ep)
		old, err := s.client.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: keys[1], Start: "-inf", Stop: "(" + us, ByScore: true, Count: pruneBatch,
		}).Result()
		if err != nil {
			return 0, err
		}
		if len(old) < pruneBatch {
			edge, err := s.deadLetters(ctx, ep, us, us, webhook.DeadLetterQuery{Until: before}, pruneBatch)
			if err != nil {
				return 0, err
			}
			for _, dl := range edge {
				old = append(old, dl.Delivery)
			}
		}
		if len(old) == 0 {
			return 0, nil
		}
		return removeDeadScript.Run(ctx, s.client, keys, append([]any{ep}, toAny(old)...)...).Int()
	})
	if err != nil {
		return n, fmt.Errorf("webhookstore: prune dead letters: %w", err)
	}
	return n, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
