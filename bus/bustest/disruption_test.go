package bustest

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The coverage rules of CheckDisruption tell a message reported through a
// reset from one lost silently.
func TestFollowerCoverage(t *testing.T) {
	at := func(epoch string, off uint64) bus.Position { return bus.Position{Epoch: epoch, Offset: off} }
	// Cursor a-5 expired with top b-3: the server restarted without a-6..
	// and started epoch b, whose b-1..b-3 the follower skipped.
	c := &follower{resets: []reset{{cursor: "a-5", top: "b-3"}}}
	for _, tc := range []struct {
		id      string
		covered bool
	}{
		{"a-6", true},  // after the expired cursor, same epoch
		{"a-9", true},  // idem
		{"b-1", true},  // before the new top
		{"b-3", true},  // the new top itself
		{"b-4", false}, // after the top: must be delivered
		{"a-5", false}, // the cursor itself was delivered
		{"a-2", false}, // before the cursor: must be delivered
		{"c-1", false}, // another epoch altogether
	} {
		assert.Equal(t, tc.covered, c.covered(tc.id), tc.id)
	}
	assert.True(t, c.resetBetween(at("a", 5), at("b", 4)), "a-5 to b-4 through the reset")
	assert.False(t, c.resetBetween(at("a", 5), at("b", 5)), "b-4 skipped")
	assert.False(t, c.resetBetween(at("a", 4), at("b", 4)), "no reset at a-4")

	// Resets chain: a-5 to b-3, then b-3 to c-0.
	c.resets = append(c.resets, reset{cursor: "b-3", top: "c-0"})
	assert.True(t, c.resetBetween(at("a", 5), at("c", 1)))
	assert.False(t, c.resetBetween(at("a", 5), at("c", 2)))
	assert.False(t, (&follower{}).covered("a-1"), "no reset covers nothing")
}

// Without disruption the memory broker delivers everything and resets no
// cursor.
func TestCheckDisruptionMemory(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	disrupted := 0
	CheckDisruption(t, Disruption{
		Publisher: b, Subscriber: b, Topic: topicName("disruption"), Messages: 300,
		Disrupt: func(int) { disrupted++ },
	})
	assert.Equal(t, 2, disrupted)
}
