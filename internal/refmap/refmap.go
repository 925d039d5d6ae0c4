package refmap

import "sync"

// Map holds at most one current value per key, and counts the holders of
// every value it gave out, current or forgotten. The zero Map is empty and
// ready to use. Values are compared by pointer.
type Map[T any] struct {
	mu   sync.Mutex
	cur  map[string]*T
	refs map[*T]int
}

// Acquire returns the current value of key with a reference for the caller.
// Without one, it makes one with create, under the Map's lock (so create
// must not call the Map), and reports first; an error from create is
// returned as is and leaves the Map unchanged.
func (m *Map[T]) Acquire(key string, create func() (*T, error)) (v *T, first bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v = m.cur[key]
	if v == nil {
		if v, err = create(); err != nil {
			return nil, false, err
		}
		if m.cur == nil {
			m.cur = make(map[string]*T)
			m.refs = make(map[*T]int)
		}
		m.cur[key], first = v, true
	}
	m.refs[v]++
	return v, first, nil
}

// Get returns the current value of key, or nil, without a reference: the
// value may be torn down meanwhile, so the caller uses only what stays
// valid after that.
func (m *Map[T]) Get(key string) *T {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur[key]
}

// Release gives back a reference to v, acquired under key, and reports
// whether it was the last: v is then no longer current, and the caller
// tears it down.
func (m *Map[T]) Release(key string, v *T) (last bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refs[v]--
	if m.refs[v] > 0 {
		return false
	}
	delete(m.refs, v)
	if m.cur[key] == v {
		delete(m.cur, key)
	}
	return true
}

// Forget makes v, if it is the current value of key, current no more: the
// next Acquire of key creates another while v's holders release it.
func (m *Map[T]) Forget(key string, v *T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur[key] == v {
		delete(m.cur, key)
	}
}

// Each calls f with every current value, under the Map's lock.
func (m *Map[T]) Each(f func(*T)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.cur {
		f(v)
	}
}

// Len returns the number of current values.
func (m *Map[T]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cur)
}
