// Package presence keeps who is subscribed to each topic, for "who is
// online" lists and join/leave notices. [Memory] wraps an auth.Authorizer:
// set it as a Handler's Auth and the sse and ws Handlers report every live
// subscription to it (auth.Joiner), per authenticated subject.
//
//	p := &presence.Memory{Auth: bearer, Broker: b}
//	h := &ws.Handler{Broker: b, Auth: p}
//	members := p.Members("chat/lobby")
//
// A subject is present on a topic while it has at least one live
// subscription to it there, from any number of connections: it joins with
// its first and leaves with its last. Anonymous identities (no Subject)
// are not counted. Poll and long-poll requests are not live subscriptions
// and are not counted either.
//
// With Broker set, each join and leave is also published on the topic's
// companion topic, Prefix + topic ("presence/chat/lobby" by default), as a
// message of type "presence.join" or "presence.leave" whose data is the
// JSON of a [Member]. Subscribing to it needs a grant of its own, e.g. the
// pattern "presence/chat/*".
//
// Memory is one process's view: behind a load balancer each instance
// knows its own members only, and an instance that dies takes its list
// with it.
package presence
