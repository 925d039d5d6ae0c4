package bus

import "context"

// Latest is the cursor of the current state: a topic's newest retained
// message, then every message that follows it. A dashboard that shows a
// value and keeps it up to date subscribes with it, and gets the value at
// once instead of at the next change. It is not a message ID: a broker's
// Subscribe and Read refuse it. The transports resolve it (sse's
// last_event_id=latest, ws's "after":"latest", poll's and longpoll's
// after=latest, auto's negotiate, and their clients), sse, ws and auto with
// LatestCursor.
const Latest = "latest"

// LatestCursor resolves Latest on topic: it returns the cursor that the
// topic's newest retained message follows, so that a subscription after
// it delivers that message first, then what follows it; for a topic that
// retains no message, its top, after which comes what is published next.
// A message published meanwhile is never skipped: it is either the newest
// or follows it.
func LatestCursor(ctx context.Context, r Reader, topic string) (string, error) {
	top, err := r.Top(ctx, topic)
	if err != nil {
		return "", err
	}
	msgs, err := r.Read(ctx, topic, "", 1) // "": the newest
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return top, nil
	}
	p, err := ParseID(msgs[0].ID)
	if err != nil {
		return "", err
	}
	return Position{Epoch: p.Epoch, Offset: p.Offset - 1}.ID(), nil
}
