package webhook

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"
)

// MemoryStore is a Store in memory: the registry, cursors, leases,
// attempts and dead letters of the Dispatchers of one process. Nothing
// survives the process; use it for tests, for single-process services
// whose endpoints come from code or configuration, and as the model of
// the durable stores. It keeps every attempt until PruneAttempts (or a
// Dispatcher's Retention) removes it.
//
// The zero value is ready to use; NewMemoryStore returns one. It is safe
// for concurrent use.
type MemoryStore struct {
	// Clock returns the current time, for Created, Updated and lease
	// expiry. Nil means time.Now.
	Clock func() time.Time

	mu        sync.Mutex
	cursors   map[string]string
	endpoints map[string]EndpointConfig
	revision  int64
	leases    map[string]memLease
	attempts  map[string][]Attempt // per endpoint, sorted by At
	dead      map[deadKey]memDead
	seq       int64
}

type memLease struct {
	holder string
	until  time.Time
}

type deadKey struct{ endpoint, delivery string }

type memDead struct {
	dl  DeadLetter
	seq int64 // the order of AddDeadLetter calls, for ties of At
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

func (s *MemoryStore) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

// Load implements CursorStore.
func (s *MemoryStore) Load(_ context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursors[key], nil
}

// Save implements CursorStore.
func (s *MemoryStore) Save(_ context.Context, key, cursor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursors == nil {
		s.cursors = make(map[string]string)
	}
	s.cursors[key] = cursor
	return nil
}

// PutEndpoint implements Registry.
func (s *MemoryStore) PutEndpoint(_ context.Context, c EndpointConfig) (EndpointConfig, error) {
	if err := c.Validate(); err != nil {
		return EndpointConfig{}, err
	}
	now := s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.endpoints[c.ID]
	switch {
	case c.Version == 0 && ok:
		return EndpointConfig{}, errorf(ErrConflict, "endpoint %q exists", c.ID)
	case c.Version == 0:
		c.Version, c.Created = 1, now
	case !ok:
		return EndpointConfig{}, errorf(ErrEndpointNotFound, "%q", c.ID)
	case old.Version != c.Version:
		return EndpointConfig{}, errorf(ErrConflict, "endpoint %q is at version %d, not %d", c.ID, old.Version, c.Version)
	default:
		c.Version, c.Created = old.Version+1, old.Created
	}
	c.Updated = now
	c = c.Clone()
	if s.endpoints == nil {
		s.endpoints = make(map[string]EndpointConfig)
	}
	s.endpoints[c.ID] = c
	s.revision++
	return c.Clone(), nil
}

// GetEndpoint implements Registry.
func (s *MemoryStore) GetEndpoint(_ context.Context, id string) (EndpointConfig, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.endpoints[id]
	if !ok {
		return EndpointConfig{}, errorf(ErrEndpointNotFound, "%q", id)
	}
	return c.Clone(), nil
}

// DeleteEndpoint implements Registry.
func (s *MemoryStore) DeleteEndpoint(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.endpoints[id]; !ok {
		return errorf(ErrEndpointNotFound, "%q", id)
	}
	delete(s.endpoints, id)
	s.revision++
	return nil
}

// ListEndpoints implements Registry.
func (s *MemoryStore) ListEndpoints(context.Context) ([]EndpointConfig, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EndpointConfig, 0, len(s.endpoints))
	for _, id := range slices.Sorted(maps.Keys(s.endpoints)) {
		out = append(out, s.endpoints[id].Clone())
	}
	return out, nil
}

// Revision implements Registry.
func (s *MemoryStore) Revision(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revision, nil
}

// AcquireLease implements Leases. ttl must be positive.
func (s *MemoryStore) AcquireLease(_ context.Context, key, holder string, ttl time.Duration) (bool, error) {
	if err := checkLease(key, holder, ttl); err != nil {
		return false, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[key]; ok && l.holder != holder && now.Before(l.until) {
		return false, nil
	}
	if s.leases == nil {
		s.leases = make(map[string]memLease)
	}
	s.leases[key] = memLease{holder: holder, until: now.Add(ttl)}
	return true, nil
}

// ReleaseLease implements Leases.
func (s *MemoryStore) ReleaseLease(_ context.Context, key, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[key]; ok && l.holder == holder {
		delete(s.leases, key)
	}
	return nil
}

// checkLease checks the arguments of AcquireLease, for every store.
func checkLease(key, holder string, ttl time.Duration) error {
	switch {
	case key == "" || holder == "":
		return errors.New("webhook: lease key and holder must not be empty")
	case ttl <= 0:
		return errors.New("webhook: lease ttl must be positive")
	}
	return nil
}

// AddAttempt implements AttemptLog.
func (s *MemoryStore) AddAttempt(_ context.Context, a Attempt) error {
	if a.Endpoint == "" {
		return errors.New("webhook: attempt without endpoint")
	}
	a = a.clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts == nil {
		s.attempts = make(map[string][]Attempt)
	}
	l := s.attempts[a.Endpoint]
	// After every attempt at the same time or earlier: ties keep the
	// order of addition.
	i := sort.Search(len(l), func(i int) bool { return l[i].At.After(a.At) })
	s.attempts[a.Endpoint] = slices.Insert(l, i, a)
	return nil
}

// ListAttempts implements AttemptLog.
func (s *MemoryStore) ListAttempts(_ context.Context, q AttemptQuery) ([]Attempt, error) {
	if q.Endpoint == "" {
		return nil, errors.New("webhook: attempt query without endpoint")
	}
	limit := QueryLimit(q.Limit)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Attempt
	for _, a := range s.attempts[q.Endpoint] {
		if q.Match(a) {
			if out = append(out, a.clone()); len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// PruneAttempts implements AttemptLog.
func (s *MemoryStore) PruneAttempts(_ context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for ep, l := range s.attempts {
		k := len(l)
		l = slices.DeleteFunc(l, func(a Attempt) bool { return a.At.Before(before) })
		n += k - len(l)
		if len(l) == 0 {
			delete(s.attempts, ep)
		} else {
			s.attempts[ep] = l
		}
	}
	return n, nil
}

// AddDeadLetter implements DeadLetterStore.
func (s *MemoryStore) AddDeadLetter(_ context.Context, dl DeadLetter) error {
	if dl.Endpoint == "" || dl.Delivery == "" {
		return errors.New("webhook: dead letter without endpoint or delivery")
	}
	dl = dl.clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead == nil {
		s.dead = make(map[deadKey]memDead)
	}
	s.seq++
	s.dead[deadKey{dl.Endpoint, dl.Delivery}] = memDead{dl: dl, seq: s.seq}
	return nil
}

// ListDeadLetters implements DeadLetterStore.
func (s *MemoryStore) ListDeadLetters(_ context.Context, q DeadLetterQuery) ([]DeadLetter, error) {
	s.mu.Lock()
	var m []memDead
	for _, d := range s.dead {
		if q.Match(d.dl) {
			m = append(m, d)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(m, func(a, b memDead) int {
		return cmp.Or(a.dl.At.Compare(b.dl.At), cmp.Compare(a.seq, b.seq))
	})
	out := make([]DeadLetter, 0, min(len(m), QueryLimit(q.Limit)))
	for _, d := range m[:min(len(m), QueryLimit(q.Limit))] {
		out = append(out, d.dl.clone())
	}
	return out, nil
}

// RemoveDeadLetter implements DeadLetterStore.
func (s *MemoryStore) RemoveDeadLetter(_ context.Context, endpoint, delivery string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := deadKey{endpoint, delivery}
	if _, ok := s.dead[k]; !ok {
		return errorf(ErrDeadLetterNotFound, "endpoint %q delivery %q", endpoint, delivery)
	}
	delete(s.dead, k)
	return nil
}

// PruneDeadLetters implements DeadLetterStore.
func (s *MemoryStore) PruneDeadLetters(_ context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, d := range s.dead {
		if d.dl.At.Before(before) {
			delete(s.dead, k)
			n++
		}
	}
	return n, nil
}

// Clone returns a deep copy of c: changing the copy's slices or map does
// not change c.
func (c EndpointConfig) Clone() EndpointConfig {
	c.Types = slices.Clone(c.Types)
	c.Secrets = slices.Clone(c.Secrets)
	c.Headers = maps.Clone(c.Headers)
	return c
}

func (a Attempt) clone() Attempt {
	a.Response = slices.Clone(a.Response)
	return a
}

func (dl DeadLetter) clone() DeadLetter {
	dl.Message.Data = slices.Clone(dl.Message.Data)
	dl.Message.Meta = maps.Clone(dl.Message.Meta)
	dl.Attempts = slices.Clone(dl.Attempts)
	for i := range dl.Attempts {
		dl.Attempts[i] = dl.Attempts[i].clone()
	}
	return dl
}
