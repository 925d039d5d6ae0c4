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
// position before the first message of an epoch.
//
// The zero Position, written [Origin] ("0-0"), is the position before the
// first message of a topic whatever epoch the topic gets: the top of a topic
// that has no message. It follows no epoch, so the first message of any
// epoch follows it, and a topic need not exist for a consumer to hold it.
type Position struct {
	Epoch  string
	Offset uint64
}

// Origin is the ID of the zero Position: the position before a topic's
// first message, in whatever epoch the topic has or will get. Top returns
// it for a topic that has no message, including one that does not exist
// yet, so asking for a topic's top creates nothing. Unlike [Oldest], it is
// a strict cursor: after Origin, delivery starts with offset 1 of the
// topic's epoch, and once that message has left the history the cursor has
// expired.
const Origin = "0-0"

// originEpoch is how the empty epoch of the zero Position is written.
const originEpoch = "0"

// ID returns the wire form of p.
func (p Position) ID() string {
	e := p.Epoch
	if e == "" {
		e = originEpoch
	}
	return e + "-" + strconv.FormatUint(p.Offset, 10)
}

// String returns the wire form of p.
func (p Position) String() string { return p.ID() }

// Follows reports whether p comes directly after prev: same epoch and an
// offset one higher. The first message of any epoch (offset 1) follows the
// zero Position (Origin).
func (p Position) Follows(prev Position) bool {
	return p.Offset == prev.Offset+1 && (p.Epoch == prev.Epoch || prev.Epoch == "" && p.Epoch != "")
}

// After reports whether p is later than q in the same epoch. Positions of
// different epochs are not ordered, and After returns false; every position
// of an epoch with an offset above 0 is after the zero Position.
func (p Position) After(q Position) bool {
	return p.Offset > q.Offset && (p.Epoch == q.Epoch || q.Epoch == "" && q.Offset == 0 && p.Epoch != "")
}

// IsZero reports whether p is the zero Position, Origin.
func (p Position) IsZero() bool { return p == Position{} }

// ParseID parses a message ID. It returns an error wrapping ErrInvalidCursor
// when id is not of the form "<epoch>-<offset>" with an epoch of 1 to
// MaxEpochLen ASCII letters and digits and a decimal offset without sign or
// leading zeros. Origin parses as the zero Position; the epoch "0" is
// reserved for it.
func ParseID(id string) (Position, error) {
	if id == Origin {
		return Position{}, nil
	}
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
// MaxEpochLen ASCII letters and digits, other than "0", which Origin uses.
func ValidEpoch(s string) bool {
	if len(s) == 0 || len(s) > MaxEpochLen || s == originEpoch {
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
