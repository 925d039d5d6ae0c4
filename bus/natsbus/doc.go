// Package natsbus runs the pushpull bus on NATS JetStream, so that several
// instances of a service share topics: a message published on one instance
// reaches the subscribers of every instance, and a client resumes its cursor
// against any of them.
//
// # Running it
//
//	nc, err := nats.Connect("nats://127.0.0.1:4222")
//	if err != nil { ... }
//	defer nc.Close()
//	b := &natsbus.Broker{Conn: nc}
//	defer b.Close()
//	h := &sse.Handler{Broker: b}
//
// The server needs JetStream enabled (nats-server -js), version 2.9 or later
// (republish, direct get). The Broker creates its stream on first use, or
// updates it to its settings; every instance uses the same Stream, Prefix
// and history settings. A message, with its type and meta, must fit in the
// server's max_payload (1 MB by default): Publish refuses a larger one with
// bus.ErrInvalidMessage; raise max_payload for larger messages.
//
// # Layout
//
// One stream (Stream, default "PUSHPULL") holds every topic as a subject:
//
//	<prefix>.t.<topic>     stored messages (MaxMsgsPerSubject = HistorySize)
//	<prefix>.live.<topic>  where the stream republishes what it stored
//
// A topic becomes one subject token: "." is written "~d" and "~" "~t"; the
// wildcards * and > are not topic characters.
//
// Stream sequences are shared by all subjects, so they are not contiguous
// per topic. Each message therefore carries its topic's epoch and offset in
// the headers Pushpull-Epoch and Pushpull-Offset. Publish takes the next
// offset and stores the message on condition that the topic's last message
// is still the one it read (expected last sequence per subject); when
// another publisher came first, it reads again and retries. So a topic's
// offsets are contiguous and every ID is unique, across every process. The
// last message of a process's topics is cached, so a publication usually
// takes one round trip.
//
// A topic that has no message takes a fresh random epoch from its first
// message. Until then its top is bus.Origin, and Top, Subscribe and Read
// store nothing (offset-0 markers that earlier versions stored are
// skipped). A topic whose messages all left the stream (purged, or aged out with
// HistoryTTL) starts a new epoch, so old cursors are answered with
// bus.ErrCursorExpired and never with other messages. Unlike redisbus, the
// epoch and top are then not kept after the data.
//
// Reading after a cursor finds the stream sequence of the next offset by
// bisection (no lookup at all while the stream holds one topic), then reads
// a few messages by direct get, or more through a short-lived consumer.
//
// # Clusters
//
// On a JetStream cluster, set Replicas to 3 (or 5): the stream is then a
// Raft group, and a publication is acknowledged only once a majority of its
// replicas stored it, so it survives the loss of any one server (two with
// R5), leader included. Reads stay consistent through leader changes: with
// Replicas > 1 the stream does not allow direct gets (allow_direct), which any
// replica answers from its own copy, possibly behind the leader, and could
// make a message just published look missing or a valid cursor look
// expired. Every read (last message, message by sequence) goes through the
// stream's message-get API instead, which only the leader answers; a new
// leader is elected from the replicas holding every acknowledged message and
// serves once it applied them, so a read after a leader change sees at least
// what was acknowledged before it. A longer read runs through a short-lived
// consumer, which reads its own server's copy: when that stops short, or the
// cluster does not create the consumer within half of RequestTimeout, the
// rest is read from the leader. Reads that find no leader fail and are
// retried by the subscriber, or returned to the caller of Read.
//
// A publication whose server dies, or that reaches a stream electing its
// leader, gets no reply, so it may or may not have been stored. Publish
// retries it until PublishTimeout, every try with the same Nats-Msg-Id: the
// server drops a second copy of an ID it stored within the stream's
// duplicate window (two minutes by default), and before each retry Publish
// looks for the ID among the topic's messages stored since its first try,
// so the message is stored once and gets one ID. Only when PublishTimeout
// passes does Publish return the error; the message may then still have
// been stored. Lowering RequestTimeout (each try waits that long for a
// reply) shortens the pause after a leader dies.
//
// # Delivery
//
// Each process subscribes, with core NATS, to the republished subject of
// every topic it has subscribers for, once however many there are, and fans
// each message out locally with the rules of bus.Memory: delivery never
// waits for a subscriber; one whose buffer is full catches up from the
// newest messages the process holds, then from the stream; one that stops
// reading is cut with bus.ErrSlowConsumer while its position is still
// retained; one whose position left the history ends with
// bus.ErrCursorExpired. Republication happens only after the message is
// stored, so what subscribers receive is what the history holds.
//
// # Failover and lost announcements
//
// Republished messages are delivered at most once: they are lost while the
// connection is down, or dropped when the process reads them too slowly.
// The broker never takes them on trust. A subscriber is live only while it
// has received everything up to the top its process knows of; a message
// that does not follow what it received sends it to the stream, which
// proves continuity. After a reconnection, and every CheckInterval anyway,
// the broker compares every topic's top with what its subscribers received.
// So a subscription either continues with no gap or ends with an error that
// the transports turn into a resume or a reset; a message is never skipped
// silently. Messages missed while nothing else was published are delivered
// late, at the latest CheckInterval after they were stored.
//
// # Limits
//
//   - Retention: HistorySize messages per topic, and optionally HistoryTTL;
//     stream-wide limits set by hand (MaxMsgs, MaxBytes) would cut topics
//     unevenly and lose their epochs.
//   - Ordering: total per topic, across every instance; none across topics.
//   - Many processes publishing to the same topic at once retry on
//     conflicts; throughput per topic is bounded by one round trip per
//     message.
//   - A publication that fails after PublishTimeout may have been stored:
//     a caller that retries it may store it twice, as two messages with two
//     IDs; consumers see both.
//
// # Concurrency
//
// A Broker is safe for concurrent use. Its goroutines (one reading the
// announcements, one checking tops, one per subscriber catching up) start
// with the first Subscribe and end before Close returns. It does not close
// Conn.
package natsbus
