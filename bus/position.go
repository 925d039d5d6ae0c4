package bus

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits on the parts of a message ID.
const (
	// MaxEpochLen is the longest epoch a broker may use.
	MaxEpochLen = 64
	// MaxIDLen is the longest message ID: an epoch, a dash and up to 20
	// decimal digits. IDs stay well below the 128 bytes under which
	// browsers send Last-Event-ID without a CORS preflight.
	MaxIDLen = MaxEpochLen + 1 + 20
)

// A Position is a parsed message ID: the epoch (generation) of the topic's
// storage and the message's offset in it. Offsets are contiguous per topic
// and epoch, starting at 1, so a consumer proves it missed nothing by
// checking that every ID follows the previous one (see Follows).
//
// The wire form, returned by ID, is "<epoch>-<offset>", for example
// "k3v9q2d8ma1-42": ASCII letters and digits, a dash and a decimal number.
// It is safe in URLs, HTTP headers and SSE id fields. Offset 0 names the
// position before the first message of an epoch, as returned by Top for a
// topic with no messages.
type Position struct {
	Epoch  string
	Offset uint64
}

// ID returns the wire form of p.
func (p Position) ID() string {
	return p.Epoch + "-" + strconv.FormatUint(p.Offset, 10)
}

// String returns the wire form of p.
func (p Position) String() string { return p.ID() }

// Follows reports whether p comes directly after prev: same epoch and an
// offset one higher.
func (p Position) Follows(prev Position) bool {
	return p.Epoch == prev.Epoch && p.Offset == prev.Offset+1
}

// After reports whether p is later than q in the same epoch. Positions of
// different epochs are not ordered, and After returns false.
func (p Position) After(q Position) bool {
	return p.Epoch == q.Epoch && p.Offset > q.Offset
}

// ParseID parses a message ID. It returns an error wrapping ErrInvalidCursor
// when id is not of the form "<epoch>-<offset>" with an epoch of 1 to
// MaxEpochLen ASCII letters and digits and a decimal offset without sign or
// leading zeros.
func ParseID(id string) (Position, error) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || i > MaxEpochLen || len(id) > MaxIDLen {
		return Position{}, invalidID(id)
	}
	epoch, num := id[:i], id[i+1:]
	if !ValidEpoch(epoch) {
		return Position{}, invalidID(id)
	}
	if num == "" || len(num) > 20 || (num[0] == '0' && len(num) > 1) {
		return Position{}, invalidID(id)
	}
	for j := 0; j < len(num); j++ {
		if num[j] < '0' || num[j] > '9' {
			return Position{}, invalidID(id)
		}
	}
	off, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return Position{}, invalidID(id)
	}
	return Position{Epoch: epoch, Offset: off}, nil
}

// ValidEpoch reports whether s can be the epoch of a Position: 1 to
// MaxEpochLen ASCII letters and digits.
func ValidEpoch(s string) bool {
	if len(s) == 0 || len(s) > MaxEpochLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func invalidID(id string) error {
	if len(id) > MaxIDLen+8 {
		id = id[:MaxIDLen+8] + "…"
	}
	return fmt.Errorf("%w: %q is not a message ID", ErrInvalidCursor, id)
}
