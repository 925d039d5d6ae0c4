package enccache

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/pushpull/pushpull/bus"
)

// Slots is the number of encodings a Cache keeps; a power of two.
const Slots = 1024

// A Cache encodes each message once for all the connections of a Handler.
// It is a direct-mapped cache keyed by topic and ID: connections sending
// the same message look it up in the same slot; the first one installs a
// pending entry and fills it, the others wait for it (a channel close
// wakes them all at once, with no lock convoy) and share its bytes. A
// message evicted by a later one that maps to the same slot (a connection
// far behind) is encoded again. Consecutive messages of a topic go to
// consecutive slots, so they never evict each other within Slots
// messages. The zero Cache is empty and ready to use; a Cache must not be
// copied after first use.
type Cache struct {
	slots   [Slots]atomic.Pointer[entry]
	encodes atomic.Int64
}

// An entry is the wire form of one message. Its encoder fills b and err,
// sets done and closes ready; connections that find it before then wait
// on ready.
type entry struct {
	topic, id string
	done      atomic.Bool
	ready     chan struct{}
	b         []byte
	err       error
}

// fill encodes m into e, installed in slot, and wakes its waiters, even
// when encode panics: they get errEncodePanic, the slot is freed for a
// later try, and the panic goes on.
func (e *entry) fill(slot *atomic.Pointer[entry], m *bus.Message, encode func(*bus.Message) ([]byte, error)) {
	defer func() {
		if p := recover(); p != nil {
			slot.CompareAndSwap(e, nil)
			e.b, e.err = nil, fmt.Errorf("%w: %v", errEncodePanic, p)
			e.done.Store(true)
			close(e.ready)
			panic(p)
		}
	}()
	e.b, e.err = encode(m)
	e.done.Store(true)
	close(e.ready)
}

// errEncodePanic is the error of the waiters of an encoding that panicked.
var errEncodePanic = errors.New("enccache: the encoder panicked")

func (e *entry) wait() ([]byte, error) {
	if !e.done.Load() {
		<-e.ready
	}
	return e.b, e.err
}

// Get returns the wire form of m, made by encode unless the cache holds
// it. The bytes are shared: the caller must not modify them. An encoding
// error is cached like the bytes.
func (c *Cache) Get(m *bus.Message, encode func(*bus.Message) ([]byte, error)) ([]byte, error) {
	s := &c.slots[slot(m.Topic, m.ID)]
	for {
		e := s.Load()
		if e != nil && e.id == m.ID && e.topic == m.Topic {
			return e.wait()
		}
		ne := &entry{topic: m.Topic, id: m.ID, ready: make(chan struct{})}
		if !s.CompareAndSwap(e, ne) {
			continue // another connection got there first: look again
		}
		c.encodes.Add(1)
		ne.fill(s, m, encode)
		return ne.b, ne.err
	}
}

// Encodes reports how many messages the cache has encoded.
func (c *Cache) Encodes() int64 { return c.encodes.Load() }

// slot returns the cache slot of a message: a hash of the topic and the
// ID's epoch, plus the ID's offset.
func slot(topic, id string) int {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(topic); i++ {
		h = (h ^ uint32(topic[i])) * 16777619
	}
	var off uint32
	end := len(id)
	for end > 0 && id[end-1] >= '0' && id[end-1] <= '9' {
		end--
	}
	for i := end; i < len(id); i++ {
		off = off*10 + uint32(id[i]-'0')
	}
	for i := 0; i < end; i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int((h + off) & (Slots - 1))
}
