package bus

import (
	"context"
	"io"
	"time"
)

// A Message is one event on a topic.
//
// A publisher fills in Type, Data and, optionally, Meta and Time. The broker
// sets Topic and ID, and Time when it is zero, and returns the stored
// message from Publish.
//
// Messages are shared: every subscriber of a topic receives the same Data
// slice and Meta map. Treat them as read-only, and do not modify Data or Meta
// after passing them to Publish.
type Message struct {
	// Topic is the topic the message was published to.
	Topic string
	// ID is assigned by the broker and is the resume cursor: subscribing
	// or reading "after ID" continues with the next message of the topic.
	// See Position for its structure.
	ID string
	// Type is an optional event type such as "payment.succeeded". It may
	// not contain control characters and is at most MaxTypeLen bytes.
	Type string
	// Data is the payload, any bytes (empty, binary, up to what the broker
	// accepts).
	Data []byte
	// Time is when the message was published. The broker sets it when it
	// is zero.
	Time time.Time
	// Meta holds optional headers. Keys and values are arbitrary strings.
	Meta map[string]string
}

// Position returns the parsed ID of m. It returns an error wrapping
// ErrInvalidCursor when m has no valid ID (for instance before it was
// published).
func (m *Message) Position() (Position, error) { return ParseID(m.ID) }

// A Publisher appends messages to topics.
type Publisher interface {
	// Publish appends m to topic and delivers it to the topic's
	// subscribers. It returns the stored message, with Topic, ID and Time
	// set, so a producer can hand its position to a consumer ("load state,
	// then subscribe after this ID").
	//
	// An invalid topic or type yields an error wrapping ErrInvalidTopic or
	// ErrInvalidMessage; a closed broker yields ErrClosed. Publish never
	// waits for subscribers.
	Publish(ctx context.Context, topic string, m Message) (Message, error)
}

// A Subscriber opens subscriptions to topics.
type Subscriber interface {
	// Subscribe delivers the messages of topic that follow the cursor after,
	// in order, each exactly once:
	//
	//   - after == "" delivers only messages published from now on;
	//   - after == Oldest delivers every retained message, then live ones;
	//   - after == Origin delivers the topic's first message and all
	//     that follow, as long as the first is retained;
	//   - any other value must be a message ID of the topic (or the Top of
	//     the topic); delivery starts with the message that follows it.
	//
	// Subscribing to a topic that has no message is allowed, and creates
	// nothing that outlives the subscription.
	//
	// A cursor the subscriber cannot serve whole, because it is older than
	// the history, from another epoch or beyond the top, yields an error
	// wrapping ErrCursorExpired (a *CursorError carrying the current top)
	// and no message at all. A malformed cursor yields ErrInvalidCursor.
	//
	// The subscription ends when ctx is done, when it is closed, when the
	// broker is closed, or when the subscriber falls too far behind; its
	// Err method tells which.
	Subscribe(ctx context.Context, topic, after string) (Subscription, error)
}

// A Subscription is a stream of messages of one topic.
//
// C and Err may be called from any goroutine; Close may be called
// concurrently with them and more than once.
type Subscription interface {
	// C returns the channel of messages. It is closed when the
	// subscription ends; messages already on the channel are still
	// delivered before it reads as closed.
	C() <-chan Message
	// Err reports why the subscription ended once C is closed: nil after
	// Close, the context's error, ErrClosed when the broker closed,
	// ErrSlowConsumer when the consumer stopped reading, ErrCursorExpired
	// when its position left the history. Before C is closed it returns nil.
	// In every case the consumer can subscribe again after the ID of the
	// last message it received.
	Err() error
	// Close ends the subscription and releases its resources. It returns
	// once C is closed. It is idempotent and always returns nil.
	Close() error
}

// A Reader reads a topic's history without waiting.
type Reader interface {
	// Read returns up to limit retained messages of topic, oldest first,
	// without waiting for new ones. limit <= 0 means no limit beyond the
	// history.
	//
	//   - after == "" returns the newest limit messages (the current state);
	//   - after == Oldest returns from the oldest retained message;
	//   - after == Origin returns from the topic's first message, if it is
	//     still retained;
	//   - any other cursor returns the messages that follow it, with the
	//     same errors as Subscribe for cursors that cannot be served whole.
	Read(ctx context.Context, topic, after string, limit int) ([]Message, error)
	// Top returns the ID of the newest message published to topic, even if
	// that message has left the history, or Origin when the topic has no
	// message (including a topic that does not exist; Top creates
	// nothing). Subscribing or reading after Top returns only what is
	// published later.
	Top(ctx context.Context, topic string) (string, error)
}

// A Broker stores messages per topic with a bounded history and fans them
// out to subscribers. Implementations are safe for concurrent use.
//
// Close ends every subscription (Err returns ErrClosed) and makes later
// calls return ErrClosed. It is idempotent.
type Broker interface {
	Publisher
	Subscriber
	Reader
	io.Closer
}

// Oldest is the cursor that starts before the oldest retained message:
// Subscribe and Read with after == Oldest replay the whole history, however
// much of the topic it still holds. (Origin is the strict form: from the
// topic's first message, or an expired cursor.)
const Oldest = "0"
