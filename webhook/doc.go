// Package webhook delivers bus messages to other services as signed HTTP
// POSTs, and receives such deliveries: the provider calls the consumer.
//
// The provider side is a [Sender] (sign, POST, retry one delivery) and a
// [Dispatcher] (a durable subscriber per endpoint that feeds the Sender from
// the bus). The consumer side is a [Receiver], an [http.Handler] that
// verifies, deduplicates and orders deliveries before it calls your
// handler or publishes them to a bus topic.
//
// # Wire format
//
// Deliveries follow the Standard Webhooks specification, so they
// interoperate with Svix and the Standard Webhooks libraries:
//
//	POST /your/endpoint HTTP/1.1
//	Content-Type: application/json
//	webhook-id: msg_2b1f…                 same on every attempt of a delivery
//	webhook-timestamp: 1614265330         Unix seconds of this attempt
//	webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
//
//	{"type":"order.paid","timestamp":"2026-11-27T12:00:00Z","data":{…}}
//
// The signature is HMAC-SHA256 over the bytes id + "." + timestamp + "." +
// body, base64-encoded and prefixed "v1,". Secrets are written
// "whsec_<base64>"; the key is the decoded bytes ([ParseSecret]). Several
// signatures may be sent, separated by spaces: the Sender adds one per
// unexpired key of the endpoint's [Keyring], which is how keys rotate
// without downtime. "v1a," signatures are Ed25519 over the same bytes, for
// keys given as "whsk_"/"whpk_". A verifier ignores versions it does not
// know and accepts the request when any signature matches any of its
// unexpired keys.
//
// Svix sends the same three values under its own names, svix-id,
// svix-timestamp and svix-signature. The Receiver (and [Verify]) accepts
// both sets with the precedence of Svix's Go library: the svix-* set when
// all three are present, otherwise the webhook-* set. The two are never
// mixed: a request with only part of each set is refused as missing
// headers (400). (Svix's JavaScript, Python and Rust libraries pick each
// header on its own, svix-* first, and so accept such a mix.)
//
// The body is a [Payload]. Its timestamp is the time the event was
// published on the bus, not the time of the attempt, so receivers can
// order events by a signed field. Data holds the bus message's data as it
// is when that is valid JSON; other data (binary, plain text, empty) is a
// base64 JSON string and the payload has "encoding":"base64"
// ([Payload.Bytes] undoes it). webhook-id is derived from the topic and
// message ID ([MessageID]), so it is stable across retries, dispatcher
// restarts and redeliveries.
//
// The Receiver also verifies Stripe ([Stripe]: Stripe-Signature
// t=…,v1=<hex>, keyed with the raw secret string) and GitHub ([GitHub]:
// X-Hub-Signature-256 sha256=<hex>) deliveries; use [RawSecret] for their
// secrets. GitHub signs the body alone: no timestamp, and not the
// X-GitHub-Delivery header, which anyone replaying a request can drop or
// change. So the Receiver deduplicates GitHub deliveries on the SHA-256 of
// the verified body, never on that header: a replayed body is a duplicate
// for IdempotencyTTL whatever its headers say. Two different GitHub events
// with byte-identical bodies within IdempotencyTTL would therefore be
// handled once; GitHub payloads, which carry ids and timestamps,
// practically never repeat.
//
// # The raw-body pitfall
//
// A signature covers bytes, not JSON values. Verify the body exactly as it
// arrived: a body that was decoded and encoded again (by a framework, a
// middleware or a logger) has other whitespace, key order or number
// formatting, and fails verification. The Receiver reads the raw body
// itself and hands those exact bytes to your handler as [Event.Body];
// decode them there, and never re-encode them to verify again. Likewise
// never put a body-parsing middleware in front of the Receiver.
//
// # Receiving
//
// The Receiver's pipeline and its answers:
//
//	invalid topic (with Broker)              400  before the body is read
//	topic refused by Topic (with Broker)     404  before the body is read
//	body larger than MaxBodyBytes            413  before any HMAC work
//	body not read within ReadTimeout (15 s)  408  connection closed
//	missing or malformed headers             400
//	timestamp outside ±Tolerance (5 min)     400  digits only, both sides
//	no signature matches                     401  at most MaxSignatures checked
//	event already handled                    200  handler not run again
//	event being handled right now            409  Retry-After: 1
//	Order says the event is stale            200  handler skipped
//	handler error                            500  claim released: retry works
//	handled                                  200
//
// A Receiver with a Broker publishes each event to the topic its Topic
// function returns for the request, the same func(*http.Request) (string,
// error) as on every handler of the library; by default the {topic} path
// value, then the topic query parameter.
//
// The Receiver bounds the reading of the body itself (ReadTimeout, set
// with [http.ResponseController.SetReadDeadline] and cleared once the body
// is in), so a client that sends the headers and then stalls holds no
// goroutine past it even on a server without a ReadTimeout. Give the
// http.Server a ReadHeaderTimeout for the headers, which come before the
// Receiver sees the request.
//
// Events are claimed in an [IdempotencyStore] ([MemoryIdempotency] by
// default; share one between instances, such as webhookstore.Idempotency
// of the bus/redisbus module, package bus/redisbus/webhookstore) for
// IdempotencyTTL, which should outlast the sender's retries. The key is
// always signed data: webhook-id (Standard), the body's "id" (Stripe, or
// the body's SHA-256 when it has none) or the body's SHA-256 (GitHub).
// Standard and Stripe signatures also cover a timestamp, so a replay is
// refused after Tolerance even once its key is forgotten. Concurrent
// copies of one event run the handler once: the others get 409 until the
// first finishes, so that if it fails their senders retry.
//
// # Sending
//
// Each attempt is signed afresh with a new timestamp and the same id.
// Outcomes: 2xx is success; 410 Gone disables the endpoint ([ErrGone]);
// 429, 502, 503, 504 and timeouts retry no sooner than their Retry-After
// (seconds or HTTP date, capped by MaxRetryAfter); 3xx is a failure, as
// redirects are never followed; anything else retries on the schedule,
// except errors that no retry can fix, which end the delivery after its
// first attempt with their cause in the error chain: a refused address
// ([ErrForbiddenAddress]), a keyring with no unexpired key ([ErrNoKeys]),
// a delivery id outside [A-Za-z0-9_-] ([ErrInvalidID]) and a URL that is
// not absolute http or https.
// The default schedule, [DefaultSchedule], retries after 5 s, 5 min, 30 min,
// 2 h, 5 h, 10 h and 10 h, each ±20 %, about 27.6 hours in all; it is
// driven by a [backoff.BackOff] that has no elapsed-time limit. Each attempt
// times out after 15 s by default. An [Attempt] records status, latency,
// error and the start of the response body; never a secret or signature.
//
// The default client refuses at dial time (in net.Dialer.Control, after DNS
// resolution, so DNS rebinding cannot slip past) to connect to loopback,
// private (RFC 1918), link-local (169.254.169.254 included), CGNAT,
// unspecified, multicast, reserved and unique-local IPv6 addresses, and to
// IPv4-mapped, NAT64 and 6to4 forms of them; it also refuses every
// IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d) and
// Teredo (2001::/32) address. A host name is refused when any of its
// addresses is. [Sender.AllowPrivateNetworks] turns this off, as tests
// against httptest or localhost need; the refusal's error says so.
//
// # Dispatching: guarantees
//
// The Dispatcher runs one goroutine per endpoint, subscribed to the
// endpoint's topic after the cursor stored in its [CursorStore]
// ([MemoryCursors] by default, [FileCursors] on disk, webhookstore.Cursors
// on Redis, package bus/redisbus/webhookstore, or your own on the
// bus's Redis or NATS). For each message passing the endpoint's type
// filter it runs the Sender's schedule to the end before the next message,
// then stores the message ID as the cursor. Therefore:
//
//   - per endpoint, messages are delivered in bus order, each at least
//     once; with a deduplicating Receiver, each is handled exactly once;
//   - a restarted Dispatcher resumes after the stored cursor; with a broker
//     whose history outlives the process and a durable cursor store,
//     nothing is lost;
//   - a message whose schedule is exhausted is dead-lettered
//     ([Dispatcher.DeadLetters], OnDeadLetter, [Dispatcher.Redeliver]) and
//     the endpoint moves on: a dead letter is the one exception to order;
//     a message whose attempt failed in a way no retry can fix (see
//     Sending) is dead-lettered at once, with the reason in
//     [DeadLetter.Error];
//   - a cursor that left the bus's history (bus.ErrCursorExpired) is
//     never skipped silently: it is logged as an error and reported to
//     OnCursorExpired with the lost range, and delivery continues from the
//     topic's top;
//   - a failing endpoint delays only itself: attempts take one of
//     MaxConcurrent slots only while in flight, and after BreakerThreshold
//     failures in a row its circuit opens for BreakerCooldown;
//   - a failure is never silent, Logger or not: [Dispatcher.Status]
//     reports per endpoint its stored cursor and whether, why and since
//     when it is failing (a cursor store or bus that keeps failing, whose
//     step the endpoint retries with backoff, or a receiver whose last
//     attempt failed), and OnError gets every error of the bus and the
//     cursor store as it happens.
//
// [FileCursors] names each file after the SHA-256 of its key and keeps the
// key inside it, so every valid endpoint ID and topic fits; files of the
// earlier naming (the base64 of the key) are still read, and replaced on
// the next save. Without stores (see Operating webhooks), dead letters and
// the attempt log are kept in memory only.
//
// # Operating webhooks
//
// A provider that runs webhooks as a service keeps everything the
// Dispatcher needs in a [Store]: a [CursorStore], a [Registry] of
// endpoints, [Leases], an [AttemptLog] and a [DeadLetterStore]. There are
// three: [MemoryStore] here, and the Redis and PostgreSQL stores of
// bus/redisbus/webhookstore and bus/pgbus/webhookstore; all pass
// webhooktest.RunStore, the one definition of a store's behaviour, and
// webhooktest.RunDispatcher, the promises below checked end to end. Set
// [Dispatcher.Store] and everything persists there:
//
//	store := webhook.NewMemoryStore()
//	d := &webhook.Dispatcher{Broker: b, Store: store, Retention: 30 * 24 * time.Hour}
//	d.PutEndpoint(ctx, webhook.EndpointConfig{ID: "shop", URL: "https://…",
//		Topic: "orders", Types: []string{"order.*"},
//		Secrets: []webhook.SecretConfig{{Secret: "whsec_…"}},
//		RateLimit: 10})
//	go d.Run(ctx)
//
// Endpoints. An [EndpointConfig] is an endpoint as data, with a stable
// JSON form: URL, topic, event-type filter ("order.*" prefixes), secrets
// newest first (rotate by prepending a new secret and giving the old one a
// NotAfter: both sign until then), headers, Disabled, a rate limit, a
// concurrency and a description. The Registry versions each endpoint
// (optimistic concurrency: an update carries the Version it read, and a
// concurrent change makes it fail with [ErrConflict]) and keeps a
// revision that changes with every change. The Dispatcher follows the
// Registry live: it reads the revision every RegistryPoll (1 s) and
// starts, restarts or stops endpoints to match, at once for changes made
// through its own [Dispatcher.PutEndpoint], [Dispatcher.DeleteEndpoint]
// and [Dispatcher.EnableEndpoint]. A restarted endpoint resumes after its
// stored cursor, so an update loses and repeats nothing. An endpoint
// answering 410 Gone is disabled in the Registry, for every instance, and
// so is one whose deliveries have failed without a success for
// [Dispatcher.DisableAfter] (five days, as Svix does; [ErrFailing]): it
// stops at the message it was trying, which enabling it delivers first.
// Endpoints given to [Dispatcher.Add] in code work beside them. A
// [SecretCipher] seals the secrets and header values a store keeps (the
// Redis and PostgreSQL stores' Secrets field), so that no copy of the
// database holds one in the clear.
//
// Several instances. Dispatchers of several processes share one store:
// each endpoint is delivered by the instance holding its lease
// ([Dispatcher.Leases], renewed every LeaseTTL/3, 15 s by default). An
// instance that stops gives its leases back; one that dies loses them
// after LeaseTTL, and another takes over after the stored cursor. An
// instance that cannot renew a lease stops that endpoint before its next
// attempt. So a message is delivered by one instance at a time, in order;
// a message in flight when an instance died is sent again with the same
// webhook-id, which a deduplicating Receiver handles once.
//
// Attempts and dead letters. Every attempt goes to the AttemptLog with the
// bus message ID and type; every dead letter to the DeadLetterStore. Both
// have stable JSON forms ([Attempt.MarshalJSON], [DeadLetter.MarshalJSON]):
// RFC 3339 times, durations as "1.5s" beside a *_ms number, response
// bodies as text when valid UTF-8, else base64. Retention prunes both.
//
// Recovery. [Dispatcher.Recover] redelivers every dead letter of an
// endpoint since a time, oldest first, with the original webhook-ids,
// removing each once delivered and stopping at the first that fails again
// (which is dead-lettered anew), so a receiver that was down for an hour
// gets that hour back in order. [Dispatcher.Replay] sends a range of the
// bus history to an endpoint again, with the original webhook-ids,
// without moving its cursor.
//
// Isolation. Per endpoint, RateLimit and Burst set a token bucket that
// every attempt (retries, recoveries and replays too) waits for, and
// MaxConcurrent lets several messages be in flight at once (out of order
// at the receiver, while the cursor only passes a message once every
// earlier one is done). A slow, failing or rate-limited endpoint never
// delays another: each has its own goroutine and holds one of the
// Dispatcher's MaxConcurrent slots only while an attempt is in flight.
//
// # Zero values and concurrency
//
// Sender, Receiver, Dispatcher, MemoryCursors and MemoryIdempotency are
// configured by exported fields whose zero values are useful (Dispatcher
// needs Broker, Receiver needs Keys and a Handler or a Broker,
// FileCursors needs Dir). Fields must not change after first use. All are
// safe for concurrent use. [Dispatcher.Run] blocks until its context is
// done and stops every goroutine it started before returning.
package webhook
