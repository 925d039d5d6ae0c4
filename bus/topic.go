package bus

import "fmt"

// Limits on names and sizes that every broker enforces.
const (
	// MaxTopicLen is the longest topic name.
	MaxTopicLen = 200
	// MaxTypeLen is the longest message Type.
	MaxTypeLen = 200
)

// ValidateTopic checks a topic name. A topic is 1 to MaxTopicLen bytes of
// ASCII letters, digits and the characters - _ . : / @ + = ~ — a set that is
// safe in URL paths and query strings, HTTP headers, Redis keys and (with
// escaping by the adapter) NATS subjects. It returns an error wrapping
// ErrInvalidTopic.
func ValidateTopic(topic string) error {
	if topic == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTopic)
	}
	if len(topic) > MaxTopicLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidTopic, MaxTopicLen)
	}
	for i := 0; i < len(topic); i++ {
		if c := topic[i]; !isAlnum(c) && !isTopicPunct(c) {
			return fmt.Errorf("%w: %q has a forbidden character at byte %d", ErrInvalidTopic, topic, i)
		}
	}
	return nil
}

func isTopicPunct(c byte) bool {
	switch c {
	case '-', '_', '.', ':', '/', '@', '+', '=', '~':
		return true
	}
	return false
}

// ValidateType checks a message Type: at most MaxTypeLen bytes and no
// control characters (so it can travel in an SSE event field or an HTTP
// header). It returns an error wrapping ErrInvalidMessage.
func ValidateType(typ string) error {
	if len(typ) > MaxTypeLen {
		return fmt.Errorf("%w: type longer than %d bytes", ErrInvalidMessage, MaxTypeLen)
	}
	for i := 0; i < len(typ); i++ {
		if c := typ[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: type has a control character at byte %d", ErrInvalidMessage, i)
		}
	}
	return nil
}
