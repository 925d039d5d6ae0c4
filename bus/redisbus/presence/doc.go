// Package presence keeps who is subscribed to each topic across every
// instance of a service that share one Redis: the Redis-backed sibling of
// package auth/presence, whose Member type and event types it uses.
//
// [Redis] wraps an auth.Authorizer: set it as the Auth of the sse, ws or
// auto Handlers of each instance, and every live subscription is recorded
// in Redis, per authenticated subject:
//
//	p := &presence.Redis{Client: rdb, Auth: bearer, Broker: b}
//	if err := p.Start(ctx); err != nil { … }
//	defer p.Close()
//	h := &auto.Handler{Broker: b, Auth: p}
//	members, err := p.Members(ctx, "chat/lobby")
//
// A subject is present on a topic while it has a live subscription to it on
// at least one live instance. With Broker set, the first subscription of a
// subject (on any instance) publishes a "presence.join" event on the
// topic's companion topic (TopicPrefix + topic, "presence/chat/lobby" by
// default) and the last one a "presence.leave" event, as auth/presence
// does; with a shared broker (redisbus) every instance's subscribers see
// them.
//
// # Keys
//
// Under Prefix ("pushpull:presence:" by default): one hash per topic
// ("t:"+topic, a field per instance and subject whose value is when the
// subject's first subscription there started and how many it has, updated
// as they come and go, one round trip per burst), one hash per topic
// counting the instances each subject is on ("c:"+topic), a key per
// instance ("i:"+id) that lives TTL and that the instance refreshes every
// TTL/3, the set of topics each instance has entries on ("i:"+id+":topics")
// and the set of instances ("instances").
//
// # Instances that die
//
// An instance that stops without Close (a crash, a network partition)
// stops refreshing its key. Members ignores the entries of an instance
// whose key is gone, so its members disappear from every list within TTL
// (15 s by default) of its last refresh; the first live instance to notice
// (at most TTL/3 later) removes its entries and publishes their leave
// events. An instance that comes back after its key expired registers its
// subscriptions again (and announces them again).
//
// Join and leave events are best effort: an instance that dies between
// recording and publishing an event loses it, and two instances that
// record the same subject at the same moment may announce it twice.
package presence
