// Package auth is the one identity and authorization model of the
// transports: who a request is (an [Identity]: subject, expiry, the topic
// patterns it may subscribe to and publish on) and whether it may subscribe
// to or publish on a topic. poll, longpoll, sse and ws Handlers take an
// [Authorizer] in their Auth field; the JWT verifier lives in the nested
// module auth/jwt, so this package needs only the standard library and bus.
//
// # What a Handler does with its Auth
//
// When Handler.Auth is set, every request is first authenticated:
//
//   - Authenticate fails with an error wrapping [ErrUnauthenticated]
//     (no credentials, a bad or expired token): 401 Unauthorized with
//     WWW-Authenticate: Bearer and the error's text as the reason. For ws
//     the handshake is refused with 401 before the upgrade.
//   - Authenticate fails otherwise (a key server unreachable, say): 503
//     Service Unavailable, which clients retry; the text is logged, not sent.
//   - Then Authorize is asked for the topic (ws: for every subscribe and
//     publish frame). An error is 403 Forbidden (ws: an error frame with
//     code "forbidden"; the connection stays open). Its text is not sent.
//   - The Handler's own Authorize hook, when set as well, runs after it
//     and may refuse too (403). The identity is in the request's context
//     ([FromContext]), so a hook can base its decision on it: the hooks
//     keep working unchanged and are expressed through the model.
//
// A live connection does not outlive its identity's Expires: an SSE stream
// ends (the client reconnects with fresh credentials and its cursor), a
// held long poll is answered with what it has by then, and a ws connection
// is closed with ws.CloseExpired (4001). The Go clients refresh by
// themselves when their HTTPClient's transport is a [Transport], which
// asks a callback for the token of each request; without one they stop
// with the 401 of their next request.
//
// # Publishing, presence
//
// ws.Handler.OnPublish sees each message a client publishes before the
// broker does; [Stamp] signs it with the publisher's subject and refuses a
// message that names someone else. An Authorizer that is also a [Joiner]
// is told of every live subscription (sse streams, ws subscriptions):
// package auth/presence keeps who is online per topic that way.
//
// # Deny by default
//
// With Auth nil a Handler is open, as before (or governed by its Authorize
// hook alone; a ws client may then publish anywhere). Once Auth is set, nothing is allowed that is not granted:
// a request without credentials is refused with 401 (unless the Authorizer
// has an anonymous identity, see [Bearer.Anonymous] and [Public]), and an
// Identity grants only the topics its Subscribe and Publish patterns
// match. An Identity with no patterns may do nothing; publishing (ws) needs
// a Publish pattern of its own, subscribing does not imply it.
//
// # Topic patterns
//
// A pattern is an exact topic ("orders/42"), or a prefix ending in "*"
// ("orders/*" matches "orders/42" and "orders/42/items"; "*" alone matches
// every topic). Topics cannot contain "*" (bus.ValidateTopic), so the two
// forms never clash. Mercure's URI templates ("{id}") are not supported:
// [ValidatePattern] refuses them rather than match them literally.
package auth
