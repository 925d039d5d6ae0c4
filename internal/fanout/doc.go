// Package fanout is the local fan-out hub of the broker adapters
// (bus/redisbus, bus/natsbus): it lets every subscriber of a topic in one
// process share a single upstream feed from the broker.
//
// An adapter keeps one Hub. Subscribe calls Acquire, which creates the
// topic's upstream handle through the adapter's setup function the first
// time the topic is wanted in this process; the adapter starts its feed,
// reads the topic's position from the broker and calls Join. Each message
// the feed announces goes to Deliver, which hands it to every subscriber of
// the topic; once the last subscriber of a topic is gone the Hub calls Idle
// so the adapter can stop the feed. So a process holds one upstream per
// topic however many subscribers it has.
//
// Delivery follows the rules of bus.Memory:
//
//   - Deliver never waits for a subscriber, so a slow reader never blocks
//     the feed or the publisher behind it.
//   - A subscriber whose channel is full, or that is not exactly at the
//     position before the announced message, is switched to catching up on
//     a goroutine of its own: first from a small buffer of the topic's
//     newest messages, then from the broker's history through Read, until
//     it reaches the known top and goes back to live delivery.
//   - A subscriber that stops reading (its channel stays full and its
//     position does not move for StallTimeout while it is more than MaxLag
//     behind) is cut with bus.ErrSlowConsumer; with MaxLag well below the
//     broker's history size its position is still retained then, so it can
//     resume from the last ID it read.
//   - The Hub keeps no history of its own and never skips a message: when
//     continuity cannot be proved (the history no longer holds the next
//     message, the broker has nothing after a position it announced beyond,
//     or the topic's epoch changed) the subscriber ends with a
//     *bus.CursorError wrapping bus.ErrCursorExpired that carries the top.
//
// The feed may lose announcements (a dropped connection, a missed
// notification): the next message delivered, or the adapter's periodic
// Resync with the top read from the broker, sends every subscriber that is
// behind to the history.
//
// Subscriptions end, closing their channel, when the context given to Join
// is done (Err returns the context's error), when they are closed (nil),
// when they are cut, or when the Hub is closed (bus.ErrClosed).
//
// A subscription may start at the zero Position (bus.Origin) of a topic that
// has no epoch yet: the topic's first message, of whatever epoch, follows
// it.
//
// The zero Hub is ready once Read is set; the other fields have defaults
// taken from bus.Memory. All methods are safe for concurrent use. The Hub
// starts no goroutine of its own except the catch-up readers, and Close
// waits for them.
package fanout
