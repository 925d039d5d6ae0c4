package enccache

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushpull/pushpull/bus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func wire(m *bus.Message) ([]byte, error) {
	return fmt.Appendf(nil, "%s/%s:%s", m.Topic, m.ID, m.Data), nil
}

func TestConcurrentGettersShareOneEncoding(t *testing.T) {
	var c Cache
	m := bus.Message{Topic: "t", ID: "e-1", Data: []byte("x")}
	release := make(chan struct{})
	slow := func(m *bus.Message) ([]byte, error) { <-release; return wire(m) }
	var wg sync.WaitGroup
	got := make([][]byte, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = c.Get(&m, slow)
		}()
	}
	close(release)
	wg.Wait()
	for _, b := range got {
		assert.Equal(t, "t/e-1:x", string(b))
	}
	assert.EqualValues(t, 1, c.Encodes())
}

func TestKeysTellTopicsAndIDsApart(t *testing.T) {
	var c Cache
	for _, m := range []bus.Message{
		{Topic: "a", ID: "e-1", Data: []byte("1")},
		{Topic: "b", ID: "e-1", Data: []byte("2")},
		{Topic: "a", ID: "f-1", Data: []byte("3")},
		{Topic: "a", ID: "e-2", Data: []byte("4")},
	} {
		b, err := c.Get(&m, wire)
		require.NoError(t, err)
		assert.Equal(t, m.Topic+"/"+m.ID+":"+string(m.Data), string(b))
	}
	assert.EqualValues(t, 4, c.Encodes())
}

func TestConsecutiveMessagesDoNotEvictEachOther(t *testing.T) {
	var c Cache
	msgs := make([]bus.Message, Slots)
	for i := range msgs {
		msgs[i] = bus.Message{Topic: "ticks", ID: fmt.Sprintf("e-%d", i+1)}
		_, _ = c.Get(&msgs[i], wire)
	}
	for i := range msgs {
		_, _ = c.Get(&msgs[i], wire)
	}
	assert.EqualValues(t, Slots, c.Encodes(), "each of Slots consecutive messages is encoded once")
	// One more evicts the oldest, which is encoded again when asked for.
	next := bus.Message{Topic: "ticks", ID: fmt.Sprintf("e-%d", Slots+1)}
	_, _ = c.Get(&next, wire)
	_, _ = c.Get(&msgs[0], wire)
	assert.EqualValues(t, Slots+2, c.Encodes())
}

func TestErrorsAreShared(t *testing.T) {
	var c Cache
	boom := errors.New("boom")
	m := bus.Message{Topic: "t", ID: "e-1"}
	_, err := c.Get(&m, func(*bus.Message) ([]byte, error) { return nil, boom })
	assert.ErrorIs(t, err, boom)
	_, err = c.Get(&m, wire)
	assert.ErrorIs(t, err, boom, "the cached outcome is returned")
	assert.EqualValues(t, 1, c.Encodes())
}

func TestPanickingEncoderReleasesWaiters(t *testing.T) {
	var c Cache
	m := bus.Message{Topic: "t", ID: "e-1"}
	started := make(chan struct{})
	waited := make(chan error, 1)
	go func() {
		<-started
		_, err := c.Get(&m, wire) // finds the pending entry and waits
		waited <- err
	}()
	assert.Panics(t, func() {
		_, _ = c.Get(&m, func(*bus.Message) ([]byte, error) {
			close(started)
			panic("boom")
		})
	}, "the panic goes on")
	// The waiter found the pending encoding and got the panic's error, or
	// came after it and encoded the message itself: it never hangs.
	if err := <-waited; err != nil {
		assert.ErrorIs(t, err, errEncodePanic)
	}
	b, err := c.Get(&m, wire)
	require.NoError(t, err, "the slot is free for a new try")
	assert.Equal(t, "t/e-1:", string(b))
}
