package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pushpull/pushpull/auth"
	shared "github.com/pushpull/pushpull/auth/presence"
	"github.com/pushpull/pushpull/bus"
)

// Defaults of Redis's fields.
const (
	DefaultPrefix      = "pushpull:presence:"
	DefaultTTL         = 15 * time.Second
	DefaultMaxPerTopic = 10000
)

// A Member is a subject present on a topic: auth/presence's.
type Member = shared.Member

// A List is the JSON answer of ServeHTTP: auth/presence's.
type List = shared.List

// Message types of the join and leave events: auth/presence's.
const (
	TypeJoin  = shared.TypeJoin
	TypeLeave = shared.TypeLeave
)

// ErrNotStarted is returned by Sync before Start.
var ErrNotStarted = errors.New("presence: not started")

// Redis is an auth.Authorizer that delegates to Auth and records, in
// Redis, who is subscribed to each topic on this instance, and lists who
// is on all live instances. Client and Auth are required; the other fields
// have useful zero values and must not be changed after Start. Start it
// before the Handlers serve and Close it when the instance stops. It is
// safe for concurrent use.
type Redis struct {
	// Client is the Redis shared by the instances. Required.
	Client redis.UniversalClient
	// Auth authenticates and authorizes. Required.
	Auth auth.Authorizer
	// Broker, when set, receives the join and leave events on the
	// companion topics. Nil means no events.
	Broker bus.Publisher
	// Prefix starts every key. Empty means DefaultPrefix.
	Prefix string
	// TopicPrefix makes a topic's companion topic. Empty means
	// shared.DefaultPrefix ("presence/").
	TopicPrefix string
	// Instance names this instance; it must differ between instances.
	// Empty means a random name.
	Instance string
	// TTL is how long the instance's key lives without a refresh: the
	// members of an instance that died disappear within it. Zero means
	// DefaultTTL (15 s).
	TTL time.Duration
	// MaxPerTopic caps the entries of a topic (a subject counts once per
	// instance it is connected to); subjects past it are still served but
	// neither listed nor announced. Zero means DefaultMaxPerTopic.
	MaxPerTopic int
	// Logger receives Redis failures and failed event publishes. Nil
	// means no logging.
	Logger *slog.Logger

	mu     sync.Mutex
	id     string
	local  map[string]map[string]*entry // topic, subject
	stop   chan struct{}
	done   sync.WaitGroup
	closed bool

	qmu   sync.Mutex
	queue []func(context.Context) // Redis updates, in order
	wake  chan struct{}
}

// entry is a subject's subscriptions to a topic on this instance.
type entry struct {
	conns  int
	since  time.Time
	listed bool // recorded in Redis (not over MaxPerTopic)
	dirty  bool // conns changed; an update of its Redis entry is queued
}

// entryValue is the value of an instance's entry in a topic's hash: when
// the subject's first subscription there started, and how many it has.
func entryValue(since time.Time, conns int) string {
	return strconv.FormatInt(since.UnixNano(), 10) + " " + strconv.Itoa(conns)
}

// parseEntry reads an entryValue. A value without a count counts one.
func parseEntry(v string) (since time.Time, conns int, ok bool) {
	ns, n, found := strings.Cut(v, " ")
	t, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, 0, false
	}
	conns = 1
	if found {
		if conns, err = strconv.Atoi(n); err != nil || conns < 1 {
			return time.Time{}, 0, false
		}
	}
	return time.Unix(0, t), conns, true
}

var (
	_ auth.Authorizer = (*Redis)(nil)
	_ auth.Joiner     = (*Redis)(nil)
)

// Authenticate implements auth.Authorizer: Auth's.
func (p *Redis) Authenticate(r *http.Request) (*auth.Identity, error) {
	return p.Auth.Authenticate(r)
}

// Authorize implements auth.Authorizer: Auth's.
func (p *Redis) Authorize(ctx context.Context, id *auth.Identity, action auth.Action, topic string) error {
	return p.Auth.Authorize(ctx, id, action, topic)
}

// Start registers the instance and starts refreshing its key and removing
// the entries of dead instances, until Close.
func (p *Redis) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.stop != nil {
		p.mu.Unlock()
		return errors.New("presence: already started")
	}
	p.id = p.Instance
	if p.id == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		p.id = hex.EncodeToString(b[:])
	}
	p.local = make(map[string]map[string]*entry)
	p.stop, p.wake = make(chan struct{}), make(chan struct{}, 1)
	p.mu.Unlock()
	if err := p.refresh(ctx, false); err != nil {
		return err
	}
	p.done.Add(2)
	go p.run()
	go p.work()
	return nil
}

// Close stops the refreshing, removes the instance's entries and publishes
// their leave events. Subscriptions that end later are not recorded.
func (p *Redis) Close() error {
	p.mu.Lock()
	if p.stop == nil || p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stop)
	p.mu.Unlock()
	p.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	p.mu.Lock()
	p.local = nil // every entry of the instance is in Redis's list of its topics
	p.mu.Unlock()
	err := p.purge(ctx, p.id)
	return errors.Join(err,
		p.Client.Del(ctx, p.key("i:"+p.id)).Err(),
		p.Client.SRem(ctx, p.key("instances"), p.id).Err())
}

func (p *Redis) run() {
	defer p.done.Done()
	t := time.NewTicker(p.ttl() / 3)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.ttl()/3)
		if err := p.refresh(ctx, true); err != nil {
			p.warn("presence: refresh failed", "err", err)
		} else if err := p.reap(ctx); err != nil {
			p.warn("presence: removing dead instances failed", "err", err)
		}
		cancel()
	}
}

// refresh keeps the instance's key alive; when it had expired (after a
// long pause) and again is set, it records the local entries again.
func (p *Redis) refresh(ctx context.Context, again bool) error {
	fresh, err := p.Client.SetNX(ctx, p.key("i:"+p.id), "1", p.ttl()).Result()
	if err != nil {
		return err
	}
	if !fresh {
		return p.Client.PExpire(ctx, p.key("i:"+p.id), p.ttl()).Err()
	}
	if err := p.Client.SAdd(ctx, p.key("instances"), p.id).Err(); err != nil || !again {
		return err
	}
	p.enqueue(func(ctx context.Context) {
		type rec struct {
			topic, sub string
			e          *entry
		}
		var recs []rec
		p.mu.Lock()
		for topic, subs := range p.local {
			for sub, e := range subs {
				if e.listed {
					recs = append(recs, rec{topic, sub, e})
				}
			}
		}
		p.mu.Unlock()
		for _, r := range recs {
			if _, err := p.add(ctx, r.topic, r.sub, r.e); err != nil {
				p.warn("presence: entry not recorded again", "topic", r.topic, "err", err)
			}
		}
	})
	return nil
}

// enqueue queues a Redis update for the worker: Join and leave never wait
// for Redis, and the updates are made in the order of the calls.
func (p *Redis) enqueue(op func(context.Context)) {
	p.qmu.Lock()
	p.queue = append(p.queue, op)
	p.qmu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// work makes the queued updates until Close; those still queued then are
// dropped (Close removes every entry of the instance).
func (p *Redis) work() {
	defer p.done.Done()
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		}
		p.qmu.Lock()
		ops := p.queue
		p.queue = nil
		p.qmu.Unlock()
		for _, op := range ops {
			select {
			case <-p.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
			op(ctx)
			cancel()
		}
	}
}

// Sync waits until the Redis updates of every Join and leave made so far
// are done (or failed and were logged), or ctx is done, or Close.
func (p *Redis) Sync(ctx context.Context) error {
	p.mu.Lock()
	stop := p.stop
	p.mu.Unlock()
	if stop == nil {
		return ErrNotStarted
	}
	done := make(chan struct{})
	p.enqueue(func(context.Context) { close(done) })
	select {
	case <-done:
		return nil
	case <-stop:
		return errors.New("presence: closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reap removes the entries of the instances whose key expired. One
// instance wins each dead one (SREM), so each leave is announced once.
func (p *Redis) reap(ctx context.Context) error {
	ids, err := p.Client.SMembers(ctx, p.key("instances")).Result()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id == p.id {
			continue
		}
		if n, err := p.Client.Exists(ctx, p.key("i:"+id)).Result(); err != nil || n > 0 {
			continue
		}
		if won, err := p.Client.SRem(ctx, p.key("instances"), id).Result(); err != nil || won == 0 {
			continue
		}
		if err := p.purge(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// purge removes every entry of instance id, announcing the leaves.
func (p *Redis) purge(ctx context.Context, id string) error {
	topics, err := p.Client.SMembers(ctx, p.key("i:"+id+":topics")).Result()
	if err != nil {
		return err
	}
	for _, topic := range topics {
		fields, err := p.Client.HKeys(ctx, p.key("t:"+topic)).Result()
		if err != nil {
			return err
		}
		for _, f := range fields {
			if inst, sub, ok := strings.Cut(f, "\n"); ok && inst == id {
				if err := p.remove(ctx, id, topic, sub); err != nil {
					return err
				}
			}
		}
	}
	return p.Client.Del(ctx, p.key("i:"+id+":topics")).Err()
}

// joinScript records a subject on a topic for an instance: 0 when it was
// already, -1 over the limit, else how many instances it is on now.
// KEYS: topic hash, count hash, the instance's topics; ARGV: field, since,
// subject, limit, topic.
var joinScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[5])
return redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
`)

// leaveScript removes a subject's entry of an instance: -1 when there was
// none, else how many instances it is on now.
// KEYS: topic hash, count hash; ARGV: field, subject.
var leaveScript = redis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if n <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
return n
`)

// add records sub on topic for this instance, with e's connections, and
// announces a join when it is the subject's first instance. It reports
// whether the entry is listed.
func (p *Redis) add(ctx context.Context, topic, sub string, e *entry) (bool, error) {
	p.mu.Lock()
	conns := max(e.conns, 1)
	e.dirty = false
	p.mu.Unlock()
	n, err := joinScript.Run(ctx, p.Client,
		[]string{p.key("t:" + topic), p.key("c:" + topic), p.key("i:" + p.id + ":topics")},
		p.id+"\n"+sub, entryValue(e.since, conns), sub, p.maxPerTopic(), topic).Int()
	if err != nil {
		return false, err
	}
	if n == 1 {
		p.announce(ctx, TypeJoin, Member{Subject: sub, Topic: topic, Since: e.since, Conns: conns})
	}
	return n >= 0, nil
}

// recountScript updates the value of an existing entry.
// KEYS: topic hash; ARGV: field, value.
var recountScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
`)

// recount queues an update of the connection count of sub's entry on
// topic, unless one is queued already: the update writes the count of
// when it runs, so a burst of joins and leaves costs one round trip.
// p.mu is held.
func (p *Redis) recountLocked(topic, sub string, e *entry) {
	if e.dirty {
		return
	}
	e.dirty = true
	p.enqueue(func(ctx context.Context) {
		p.mu.Lock()
		listed, conns := e.listed, e.conns
		e.dirty = false
		p.mu.Unlock()
		if !listed || conns < 1 {
			return // not recorded, or its leave is queued
		}
		err := recountScript.Run(ctx, p.Client, []string{p.key("t:" + topic)}, p.id+"\n"+sub, entryValue(e.since, conns)).Err()
		if err != nil {
			p.warn("presence: connection count not recorded", "topic", topic, "err", err)
		}
	})
}

// remove removes the entry of instance id and announces a leave when it
// was the subject's last.
func (p *Redis) remove(ctx context.Context, id, topic, sub string) error {
	n, err := leaveScript.Run(ctx, p.Client, []string{p.key("t:" + topic), p.key("c:" + topic)}, id+"\n"+sub, sub).Int()
	if err != nil {
		return err
	}
	if n == 0 {
		p.announce(ctx, TypeLeave, Member{Subject: sub, Topic: topic})
	}
	return nil
}

// Join implements auth.Joiner. Redis is written when a subject's first
// subscription to a topic on this instance starts and its last ends, by
// a goroutine of the instance, in order: Join and the leave function it
// returns never wait for Redis (see Sync).
// Subscriptions before Start or after Close are not recorded.
func (p *Redis) Join(ctx context.Context, id *auth.Identity, topic string) func() {
	if id == nil || id.Subject == "" || strings.HasPrefix(topic, p.topicPrefix()) {
		return nil
	}
	sub := id.Subject
	p.mu.Lock()
	if p.local == nil || p.closed {
		p.mu.Unlock()
		return nil
	}
	subs := p.local[topic]
	if subs == nil {
		subs = make(map[string]*entry)
		p.local[topic] = subs
	}
	e := subs[sub]
	if e != nil {
		e.conns++
		p.recountLocked(topic, sub, e)
		p.mu.Unlock()
		return func() { p.leave(topic, sub) }
	}
	e = &entry{conns: 1, since: time.Now(), listed: true}
	subs[sub] = e
	p.mu.Unlock()
	p.enqueue(func(ctx context.Context) {
		listed, err := p.add(ctx, topic, sub, e)
		if err != nil {
			p.warn("presence: join not recorded", "topic", topic, "err", err)
		}
		if !listed && err == nil {
			p.mu.Lock()
			e.listed = false
			p.mu.Unlock()
		}
	})
	return func() { p.leave(topic, sub) }
}

func (p *Redis) leave(topic, sub string) {
	p.mu.Lock()
	e := p.local[topic][sub]
	if e == nil {
		p.mu.Unlock()
		return
	}
	e.conns--
	if e.conns > 0 {
		p.recountLocked(topic, sub, e)
		p.mu.Unlock()
		return
	}
	delete(p.local[topic], sub)
	if len(p.local[topic]) == 0 {
		delete(p.local, topic)
	}
	p.mu.Unlock()
	p.enqueue(func(ctx context.Context) {
		p.mu.Lock()
		listed := e.listed // set by the join's update, queued before
		p.mu.Unlock()
		if !listed {
			return
		}
		if err := p.remove(ctx, p.id, topic, sub); err != nil {
			p.warn("presence: leave not recorded", "topic", topic, "err", err)
		}
	})
}

// Members returns the subjects present on topic on the live instances,
// sorted by subject. Conns is the number of a subject's subscriptions to
// the topic over all live instances (as auth/presence's Memory counts
// them in one process), Since its earliest.
func (p *Redis) Members(ctx context.Context, topic string) ([]Member, error) {
	all, err := p.Client.HGetAll(ctx, p.key("t:"+topic)).Result()
	if err != nil {
		return nil, err
	}
	alive := make(map[string]*redis.IntCmd)
	pipe := p.Client.Pipeline()
	for f := range all {
		if inst, _, ok := strings.Cut(f, "\n"); ok && alive[inst] == nil {
			alive[inst] = pipe.Exists(ctx, p.key("i:"+inst))
		}
	}
	if len(alive) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
	}
	bySub := make(map[string]*Member)
	for f, v := range all {
		inst, sub, ok := strings.Cut(f, "\n")
		if !ok || alive[inst].Val() == 0 {
			continue
		}
		since, conns, ok := parseEntry(v)
		if !ok {
			continue
		}
		m := bySub[sub]
		if m == nil {
			bySub[sub] = &Member{Subject: sub, Topic: topic, Since: since, Conns: conns}
			continue
		}
		m.Conns += conns
		if since.Before(m.Since) {
			m.Since = since
		}
	}
	out := make([]Member, 0, len(bySub))
	for _, m := range bySub {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Subject, b.Subject) })
	return out, nil
}

// ServeHTTP answers GET with the list of the request's topic, as
// auth/presence's ServeList describes (a List of Members).
func (p *Redis) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	shared.ServeList(w, r, p, p.Members, p.Logger)
}

// Topic returns the companion topic of topic.
func (p *Redis) Topic(topic string) string { return p.topicPrefix() + topic }

func (p *Redis) key(s string) string {
	if p.Prefix == "" {
		return DefaultPrefix + s
	}
	return p.Prefix + s
}

func (p *Redis) topicPrefix() string {
	if p.TopicPrefix == "" {
		return shared.DefaultPrefix
	}
	return p.TopicPrefix
}

func (p *Redis) ttl() time.Duration {
	if p.TTL > 0 {
		return p.TTL
	}
	return DefaultTTL
}

func (p *Redis) maxPerTopic() int {
	if p.MaxPerTopic > 0 {
		return p.MaxPerTopic
	}
	return DefaultMaxPerTopic
}

func (p *Redis) warn(msg string, args ...any) {
	if p.Logger != nil {
		p.Logger.Warn(msg, args...)
	}
}

// eventTimeout bounds one Redis update and the publish of its event.
const eventTimeout = 5 * time.Second

func (p *Redis) announce(ctx context.Context, typ string, m Member) {
	if p.Broker == nil {
		return
	}
	data, _ := json.Marshal(m) // strings, an int and a time: cannot fail
	if _, err := p.Broker.Publish(ctx, p.Topic(m.Topic), bus.Message{Type: typ, Data: data}); err != nil {
		p.warn("presence: event not published", "topic", m.Topic, "type", typ, "err", err)
	}
}
