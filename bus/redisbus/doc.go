// Package redisbus runs the pushpull bus on Redis, so that several
// instances of a service share topics: a message published on one instance
// reaches the subscribers of every instance, and a client resumes its cursor
// against any of them.
//
// # Running it
//
//	b, err := redisbus.New("redis://127.0.0.1:6379/0")
//	if err != nil { ... }
//	defer b.Close()
//	h := &sse.Handler{Broker: b}
//
// or, with a client you configured yourself (Sentinel, Cluster, TLS),
// &redisbus.Broker{Client: client}. It needs Redis 5 or later (Streams,
// Lua, PUB/SUB); no module. Every instance of the service uses the same
// Prefix and history settings.
//
// # Layout
//
// Each topic has two keys and a channel, named after Prefix and the topic
// (the topic is a hash tag, so a topic lives in one Cluster slot):
//
//	<prefix>{<topic>}:meta    hash: e = epoch, s = top offset, r = replication
//	                          ID of the server that wrote it
//	<prefix>{<topic>}:stream  stream: entry "<offset>-0", field d = the message
//	<prefix>{<topic>}         channel: "<epoch> <offset> <message>"
//
// Publish runs one Lua script that takes the next offset, appends the entry
// (trimmed to exactly HistorySize), refreshes the TTLs and publishes the
// notification, all atomically: the ID a subscriber receives live is the ID
// stored in the history, and a topic's offsets are contiguous. A topic whose
// meta is missing (new, expired after MetaTTL, flushed, evicted) gets a
// fresh random epoch, so cursors into its former life are answered with
// bus.ErrCursorExpired, never with other messages. The meta outlives the
// history (MetaTTL, 30 days by default, against HistoryTTL, an hour), so
// "nothing new after x" stays answerable after the messages expired.
//
// # Delivery
//
// Each process holds one PUB/SUB connection, subscribed to the channel of
// every topic it has subscribers for, however many there are, and fans each
// notification out locally with the rules of bus.Memory: delivery never
// waits for a subscriber; one whose buffer is full reads the Redis history
// until it has caught up; one that stops reading is cut with
// bus.ErrSlowConsumer while its position is still retained; one whose
// position left the history ends with bus.ErrCursorExpired.
//
// A subscriber is live only while it has received everything up to the top
// its process knows of. Any notification that does not follow what it
// received (a gap, another epoch) sends it to the history, which proves
// continuity or reports the gap.
//
// # Failover and lost notifications
//
// PUB/SUB delivery is at most once: notifications are lost while the
// connection is down, and after a failover a connection can stay open on a
// server that no longer receives publications. The broker never takes the
// notifications on trust. It pings an idle connection and reconnects when no
// answer comes; after reconnecting and resubscribing it compares every
// topic's top with what its subscribers received, and it does so anyway
// every CheckInterval. Subscribers behind the top read the missing messages
// from the history. So after a Redis restart or a lost connection every
// subscription either continues with no gap, or ends with an error
// (bus.ErrCursorExpired when the history is gone, for instance after a
// restart without persistence; or the connection error when Redis stays
// unreachable) that the transports turn into a resume or a reset. It never
// skips a message silently. Messages published while no subscriber of a
// process saw them are delivered late, at the latest CheckInterval after
// they were published.
//
// # Redis Cluster and Sentinel
//
// Client takes any redis.UniversalClient: a *redis.Client for one server, the
// client of redis.NewFailoverClient for a Sentinel-managed primary, or a
// *redis.ClusterClient. In a Cluster a topic's keys and channel share the
// hash tag {<topic>}, so its Lua scripts run on the one primary owning that
// slot, and topics spread over the primaries by name.
//
// Notifications use sharded PUB/SUB on a Cluster whose servers support it
// (Redis 7 and later; the broker asks once, with COMMAND INFO SPUBLISH, on
// its first call): the publish script announces each message with
// SPUBLISH, which stays inside the shard owning the topic's slot, instead
// of PUBLISH, which a Cluster forwards to every node. The broker holds one
// SSUBSCRIBE connection per hash slot in use by its subscribed topics, on
// the primary owning that slot: SSUBSCRIBE must reach that node, one
// command cannot span slots, and a connection resubscribes all its
// channels in one command after it reconnects. A process following many
// topics thus holds up to one connection per topic (at most 16,384). On
// older Clusters, and with a single server or Sentinel (where there is
// nothing to shard), the broker uses PUBLISH and one SUBSCRIBE connection,
// which may sit on any node of a Cluster. All the brokers of a deployment
// must agree: during an upgrade of a Cluster to Redis 7, brokers that
// started before it use PUBLISH and subscribers of the others then learn
// of messages only from the periodic check (CheckInterval), late but
// without a gap.
//
// When a slot moves to another primary (a resharding, or a failover), the
// old owner ends the shard channels of that slot (it pushes SUNSUBSCRIBE)
// or its connection drops; the broker then has the cluster client reload
// its slot map and resubscribes on the new owner, and once the server
// confirms it checks the topics' tops, so notifications lost meanwhile are
// read from the history. A topic whose slot moved is written by a server
// with another replication ID, so its next publication starts a new epoch
// and resets its subscribers once, as after a failover (see below), though
// a resharding loses nothing. After a failed call the broker also asks a
// cluster client to reload its slot map: go-redis reloads it on MOVED
// replies, but keeps sending a dead primary's slots to it until its
// periodic reload, a minute by default.
//
// Redis replicates asynchronously: a primary acknowledges a write before its
// replicas have it, so a failover can lose acknowledged messages. They are
// never lost silently, and no offset is handed out twice: each topic's meta
// records the replication ID of the server that wrote it, and the first
// publication on a server with another replication ID (a promoted replica)
// starts a new epoch. So after a failover each topic that is published to
// again resets its subscribers and cursors once (bus.ErrCursorExpired with
// the new top), even when nothing was lost, since Redis cannot tell; the
// messages it retains stay readable under the new epoch. A cursor beyond
// what the promoted replica holds is reset as soon as it is used.
// Publications during the failover fail and return their error. One whose
// reply was lost may have been stored, so a caller that retries it may store
// it twice, under two IDs.
//
// # Limits
//
//   - Retention: exactly HistorySize messages per topic; the whole history of
//     a topic expires HistoryTTL after its last publication (Redis expires
//     keys, not stream entries).
//   - Ordering: total per topic, across every instance; none across topics.
//   - A Redis restored from an older snapshot that kept its replication ID
//     keeps the epoch but forgets the newest offsets, which are then handed
//     out again. Run Redis either without persistence (a restart then starts
//     new epochs) or with appendfsync always if cursors must survive a
//     restart.
//   - Messages are sent twice over the network (history and notification):
//     keep them small; Redis caps a value at 512 MB.
//
// # Concurrency
//
// A Broker is safe for concurrent use. Its goroutines (one reading PUB/SUB,
// one sending its SUBSCRIBE and UNSUBSCRIBE commands, one checking tops, one
// per subscriber catching up) start with the first Subscribe and end before
// Close returns. No lock is held across network I/O: with a Redis that
// stopped answering, Subscribe still returns when its context is done, and
// closing a subscription does not wait for the server. Close waits at most
// for the calls in flight, which the client's dial and read timeouts bound.
//
// # Webhook stores
//
// Package [github.com/pushpull/pushpull/bus/redisbus/webhookstore], in this
// module, keeps the state of package webhook (Dispatcher cursors, Receiver
// idempotency claims) in the same Redis. Package redisbus itself imports
// only package bus.
package redisbus
