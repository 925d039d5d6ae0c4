package presence

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
)

// Defaults of Memory's fields.
const (
	DefaultPrefix      = "presence/"
	DefaultMaxPerTopic = 10000
)

// Message types of the join and leave events.
const (
	TypeJoin  = "presence.join"
	TypeLeave = "presence.leave"
)

// A Member is a subject present on a topic.
type Member struct {
	Subject string    `json:"subject"`
	Topic   string    `json:"topic"`
	Since   time.Time `json:"since"`       // when its first subscription began
	Conns   int       `json:"connections"` // its live subscriptions to the topic
}

// Memory is an auth.Authorizer that delegates to Auth and keeps, in
// memory, who is subscribed to each topic. Auth is required; the other
// fields have useful zero values and must not be changed after first use.
// It is safe for concurrent use.
type Memory struct {
	// Auth authenticates and authorizes. Required.
	Auth auth.Authorizer
	// Broker, when set, receives the join and leave events on the
	// companion topics. Nil means no events.
	Broker bus.Publisher
	// Prefix makes a topic's companion topic. Empty means DefaultPrefix.
	Prefix string
	// MaxPerTopic caps the subjects listed per topic; subjects past it
	// are still served but neither listed nor announced. Zero means
	// DefaultMaxPerTopic.
	MaxPerTopic int
	// Logger receives failed event publishes. Nil means no logging.
	Logger *slog.Logger

	mu     sync.Mutex
	topics map[string]map[string]*Member // topic, subject
}

var (
	_ auth.Authorizer = (*Memory)(nil)
	_ auth.Joiner     = (*Memory)(nil)
)

// Authenticate implements auth.Authorizer: Auth's.
func (p *Memory) Authenticate(r *http.Request) (*auth.Identity, error) {
	return p.Auth.Authenticate(r)
}

// Authorize implements auth.Authorizer: Auth's.
func (p *Memory) Authorize(ctx context.Context, id *auth.Identity, action auth.Action, topic string) error {
	return p.Auth.Authorize(ctx, id, action, topic)
}

// Join implements auth.Joiner.
func (p *Memory) Join(ctx context.Context, id *auth.Identity, topic string) func() {
	if id == nil || id.Subject == "" || strings.HasPrefix(topic, p.prefix()) {
		return nil
	}
	sub := id.Subject
	p.mu.Lock()
	if p.topics == nil {
		p.topics = make(map[string]map[string]*Member)
	}
	members := p.topics[topic]
	m := members[sub]
	switch {
	case m != nil:
		m.Conns++
		p.mu.Unlock()
		return func() { p.leave(topic, sub) }
	case len(members) >= p.maxPerTopic():
		p.mu.Unlock()
		return nil
	}
	if members == nil {
		members = make(map[string]*Member)
		p.topics[topic] = members
	}
	m = &Member{Subject: sub, Topic: topic, Since: time.Now(), Conns: 1}
	members[sub] = m
	ev := *m
	p.mu.Unlock()
	p.announce(ctx, TypeJoin, ev)
	return func() { p.leave(topic, sub) }
}

func (p *Memory) leave(topic, sub string) {
	p.mu.Lock()
	m := p.topics[topic][sub]
	if m == nil {
		p.mu.Unlock()
		return
	}
	m.Conns--
	if m.Conns > 0 {
		p.mu.Unlock()
		return
	}
	delete(p.topics[topic], sub)
	if len(p.topics[topic]) == 0 {
		delete(p.topics, topic)
	}
	ev := *m
	p.mu.Unlock()
	// The subscription's request may be over: the event must go out all
	// the same.
	p.announce(context.Background(), TypeLeave, ev)
}

// Members returns the subjects present on topic, sorted by subject.
func (p *Memory) Members(topic string) []Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Member, 0, len(p.topics[topic]))
	for _, m := range p.topics[topic] {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Subject, b.Subject) })
	return out
}

// Topic returns the companion topic of topic, where its join and leave
// events are published.
func (p *Memory) Topic(topic string) string { return p.prefix() + topic }

func (p *Memory) prefix() string {
	if p.Prefix == "" {
		return DefaultPrefix
	}
	return p.Prefix
}

func (p *Memory) maxPerTopic() int {
	if p.MaxPerTopic > 0 {
		return p.MaxPerTopic
	}
	return DefaultMaxPerTopic
}

// eventTimeout bounds the publish of one event.
const eventTimeout = 5 * time.Second

func (p *Memory) announce(ctx context.Context, typ string, m Member) {
	if p.Broker == nil {
		return
	}
	data, _ := json.Marshal(m) // strings, an int and a time: cannot fail
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
	defer cancel()
	if _, err := p.Broker.Publish(ctx, p.Topic(m.Topic), bus.Message{Type: typ, Data: data}); err != nil && p.Logger != nil {
		p.Logger.Warn("presence: event not published", "topic", m.Topic, "type", typ, "err", err)
	}
}
