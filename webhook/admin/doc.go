// Package admin is the operator's and the consumer's side of webhooks: a
// JSON API ([Handler]) over a webhook Store (endpoints, attempts, dead
// letters) and Dispatcher (status, recovery, replay, retries), protected by
// package auth, and a consumer portal page ([Portal]) that lists one
// endpoint's deliveries with a retry button.
//
//	store := webhook.NewMemoryStore()
//	d := &webhook.Dispatcher{Broker: b, Store: store} // follows the store
//	h := &admin.Handler{Dispatcher: d, Store: store, Auth: bearer}
//	mux.Handle("/admin/", http.StripPrefix("/admin", h))
//
// # Authorization
//
// Every request but the portal page is authenticated by Handler.Auth
// (401 with WWW-Authenticate when it fails, 503 when it cannot tell) and
// authorized on the topic "webhooks/<endpoint ID>": reading an endpoint,
// its attempts, dead letters, deliveries and status needs Subscribe on it;
// creating, changing, deleting, rotating, disabling, enabling, recovering,
// replaying and retrying need Publish on it. Listing every endpoint, or
// every endpoint's operations, needs Subscribe on "webhooks/*", creating one without an ID Publish on
// "webhooks/*" (a create is authorized once its body is read, on the ID
// it names). So a token whose identity has Subscribe and Publish
// ["webhooks/ep_42"] can use the portal of ep_42 and nothing else, and an
// operator's ["webhooks/*"] everything. Rights are checked before the
// endpoint is looked up: a token without them gets 403 whether the
// endpoint exists or not.
//
// With Auth nil the API is open. Set Auth, or put the Handler behind
// authentication of your own.
//
// # Errors
//
// Every error is JSON, {"error":{"code":…,"message":…}}, with the status
// that says what went wrong ([ErrorBody]):
//
//	400 invalid                 bad JSON, unknown field, bad value or query parameter
//	401 unauthenticated         no or bad credentials (WWW-Authenticate: Bearer)
//	403 forbidden               the identity lacks the right on webhooks/<id>
//	404 not_found               no such route, endpoint, dead letter or operation
//	405 method_not_allowed      with Allow
//	409 conflict                "version" is not the stored one; create of an existing ID; an operation of the endpoint runs
//	410 cursor_expired          replay from a position the bus no longer has
//	412 precondition_failed     If-Match is not the stored version
//	413 too_large               body over Handler.MaxBody (64 KiB)
//	415 unsupported_media_type  a body that is not application/json
//	429 too_many_operations     Handler.MaxOperations operations are running
//	502 delivery_failed         a retried dead letter failed again; recover or replay could not deliver
//	503 unavailable             no Dispatcher; Auth cannot tell; an operation after Close
//	500 internal                the store failed (logged, not sent)
//
// # Endpoints
//
// An endpoint is a webhook.EndpointConfig in its JSON form, except that
// its secrets never appear: "secrets" lists their fingerprints and expiry
// instead, and the secret itself is in "secret" once, in the answer of
// the create or rotate that made it. Every answer with one endpoint
// carries its version as ETag ("3").
//
//	GET /endpoints?limit=100&after=ep_41  → 200 {"endpoints":[…],"next":"ep_99"}
//
// The list comes by ID, a page at a time: limit is 1 to 1000 (default
// 100), after the ID of the last endpoint of the previous page; "next" is
// there while more follow, the "after" of the next page.
//
//	POST /endpoints                       Content-Type: application/json
//	{"id":"ep_42","url":"https://shop.example/hooks","topic":"orders","types":["order.*"]}
//	→ 201 Location: endpoints/ep_42  ETag: "1"
//	{"id":"ep_42","url":"https://shop.example/hooks","topic":"orders","types":["order.*"],
//	 "secrets":[{"fingerprint":"5b2c0e9a41d3f870"}],"version":1,
//	 "created":"2026-12-03T08:00:00Z","updated":"2026-12-03T08:00:00Z",
//	 "secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
//
// Without "id" the API generates one ("ep_…"); without "secrets" it
// generates a secret. The other fields are those of EndpointConfig:
// "from", "headers", "disabled", "rate_limit", "burst", "max_concurrent",
// "description".
//
//	GET /endpoints/ep_42                  → 200 the endpoint (If-None-Match: "1" → 304)
//
//	PUT /endpoints/ep_42                  If-Match: "1"  (or "version":1 in the body)
//	{"url":"https://shop.example/v2/hooks","topic":"orders"}
//	→ 200 the endpoint at version 2
//
//	PATCH /endpoints/ep_42                If-Match: "2"
//	{"rate_limit":10,"description":"shop, paced"}
//	→ 200 the endpoint at version 3
//
//	DELETE /endpoints/ep_42               If-Match: "3"  → 204
//
// PUT replaces the configuration but its secrets (change them by rotate);
// PATCH replaces the fields present and not null (send [] or {} to empty
// "types" or "headers"). Both, and the routes below that
// change an endpoint, are optimistic: a request whose If-Match names
// another version fails with 412, one whose "version" names another
// version with 409, and so does one that loses a race with another
// change; read the endpoint again and retry. A request with neither
// changes whatever version is stored.
//
//	POST /endpoints/ep_42/rotate          {"not_after":"2026-12-04T08:00:00Z"} (both fields optional)
//	→ 200 the endpoint with "secret":"whsec_…" (the new one)
//
// Rotate puts a new secret first (given as "secret", or generated); the
// older ones keep signing until "not_after", by default 24 hours
// (Handler.RotateGrace) from now, so receivers can switch over; secrets
// expired already are dropped.
//
//	POST /endpoints/ep_42/disable         → 200 the endpoint, "disabled":true
//	POST /endpoints/ep_42/enable          → 200 the endpoint, "disabled":false
//
// Enable also lifts a stop by a 410 Gone answer, or by failures that
// lasted Dispatcher.DisableAfter (delivery resumes from the message it
// stopped at). Both take an empty body
// or {"version":n}.
//
// # Deliveries
//
//	GET /endpoints/ep_42/attempts?since=2026-12-03T07:00:00Z&until=…&failed=true&limit=100
//	→ 200 {"attempts":[{"delivery":"msg_…","endpoint":"ep_42","message":"…","type":"order.paid",
//	        "n":1,"at":"…","ok":false,"status":503,"latency":"12ms","latency_ms":12,
//	        "error":"webhook: server answered 503 …","response":"down","next":"5s","next_ms":5000}]}
//
// Attempts come oldest first in webhook.Attempt's JSON form; limit is
// 1 to 1000 (default 100).
//
//	GET /endpoints/ep_42/deadletters?since=…&until=…&limit=…
//	→ 200 {"dead_letters":[{"endpoint":"ep_42","delivery":"msg_…","message":{…},"attempts":[…],
//	        "error":"webhook: retries exhausted …","at":"…"}]}
//
//	GET /endpoints/ep_42/deliveries?since=…&limit=50
//	→ 200 {"deliveries":[{"id":"msg_…","message":"…","type":"order.paid","state":"dead",
//	        "attempts":4,"first":"…","last":{…the latest attempt…}}]}
//
// Deliveries groups the attempts since "since" (default 24 hours ago) by
// delivery, newest first: "delivered" when the latest attempt succeeded,
// "dead" when the delivery is a dead letter, "failing" while retries go on.
// It is what the portal shows.
//
//	POST /endpoints/ep_42/deadletters/msg_…/retry      → 200 {"delivered":true}
//
// Retry redelivers one dead letter now, with its original webhook-id, on
// the Sender's schedule, within the request (at most Handler.RetryTimeout,
// 30 s): 200 once delivered and removed from the dead letters, 502 when it
// failed again (it stays a dead letter).
//
//	POST /endpoints/ep_42/recover         {"since":"2026-12-03T07:00:00Z"}
//	→ 200 {"recovered":12}
//	POST /endpoints/ep_42/replay          {"from":"<message ID>","to":"<message ID>"}
//	→ 200 {"replayed":40}
//
// Recover redelivers every dead letter of the endpoint since the time, in
// order; replay sends the bus history between two message IDs again
// (Dispatcher.Recover and Dispatcher.Replay). Both run within the request
// and answer how many messages were delivered; a client that goes away
// stops them. A message that cannot be delivered ends them with 502
// delivery_failed (it is dead-lettered), a replay from a position the bus
// no longer has with 410 cursor_expired.
//
//	GET /endpoints/ep_42/status
//	→ 200 {"endpoint":{…},"running":true,"cursor":"…","error":"…","since":"…","dead_letters":2}
//
// # Operations
//
// A recovery or replay of thousands of messages, paced by the endpoint's
// rate limit, outlasts any proxy's patience. Asked with
// "Prefer: respond-async" (RFC 7240), either is answered 202 at once and
// runs on, apart from the request, as an operation:
//
//	POST /endpoints/ep_42/replay          Prefer: respond-async
//	{"from":"<message ID>"}
//	→ 202 Location: operations/op_9f3c…  Preference-Applied: respond-async
//	{"id":"op_9f3c…","endpoint":"ep_42","kind":"replay","state":"running","delivered":0,…}
//
//	GET /endpoints/ep_42/operations/op_9f3c…
//	→ 200 {…,"state":"running","delivered":1200,"started":"…"}
//	→ 200 {…,"state":"failed","delivered":1733,"ended":"…","status":502,
//	       "error":{"code":"delivery_failed","message":"webhook: replay …"}}
//
//	GET /endpoints/ep_42/operations       → 200 {"operations":[…]}, newest first
//	GET /operations?state=running         → 200 the same over every endpoint (Subscribe on "webhooks/*")
//	DELETE /endpoints/ep_42/operations/op_9f3c…  → 200 the operation, "canceled"
//
// "state" is "running", "succeeded", "failed" (with the "status" and
// "error" the request would have had) or "canceled"; "delivered" counts
// as it goes; "by" is the subject of the token that started it. A POST
// repeated while its operation runs (a client retrying after a timeout)
// starts nothing: it is answered 409 with the running one's Location. DELETE answers once the operation has stopped (202 with it
// still running if the request ends first); an operation that ended
// already is answered as it is. What would fail at once is answered at
// once instead of starting: an unknown endpoint 404, a replay from a
// position no longer in the history 410. Reading an operation needs
// Subscribe on its endpoint, cancelling it Publish.
//
// An endpoint runs one recovery or replay at a time, within a request or
// not, since two would send its messages twice and out of order: another
// is answered 409 conflict with the running one's Location (those run
// within their request are listed too). At most Handler.MaxOperations (8) run at
// once in all, more are answered 429 too_many_operations with
// Retry-After. A finished operation can be read for Handler.OperationTTL
// (an hour); each endpoint keeps its latest MaxFinishedOperations (100).
// Operations live in the process that runs them: behind a load balancer,
// read them through the instance that answered 202 (or run them within
// the request). Call Handler.Close at shutdown: it cancels those still
// running.
//
// # The portal
//
// GET /portal (or [Portal] mounted on its own) serves one static page,
// plain HTML, CSS and JavaScript embedded in the binary. It takes an
// endpoint ID and a token, from its form or from the URL's fragment
// (#endpoint=ep_42&token=…, which never reaches a server), and shows the
// endpoint's latest deliveries with their state, last status, response and
// a retry button for dead letters, refreshed every few seconds. It uses the
// API above with the token, so it can do no more than the token may.
package admin
