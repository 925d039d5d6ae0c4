package metrics

import "strings"

// A TopicClass maps a topic to the class it is counted under, so that
// metrics labelled by topic keep a bounded number of series whatever
// topics clients name. It must return values from a small fixed set and be
// safe for concurrent use.
//
// A nil TopicClass puts every topic in the class "all": adapters never use
// raw topic names unless given a TopicClass that returns them, which is
// only safe when the set of topics is small and fixed.
type TopicClass func(topic string) string

// DefaultClass is the class of every topic under a nil TopicClass.
const DefaultClass = "all"

// OtherClass is the class Prefixes gives a topic that matches no prefix.
const OtherClass = "other"

// Of returns the class of topic: c(topic), DefaultClass when c is nil, and
// "" when topic is "" (the event concerns no topic).
func (c TopicClass) Of(topic string) string {
	switch {
	case topic == "":
		return ""
	case c == nil:
		return DefaultClass
	}
	return c(topic)
}

// Prefixes returns a TopicClass that puts a topic in the class named by
// the longest of prefixes it starts with, and in OtherClass when it starts
// with none. So Prefixes("orders.", "chat.") counts "orders.eu.42" as
// "orders." and "news" as "other": as many classes as prefixes, plus one.
func Prefixes(prefixes ...string) TopicClass {
	ps := append([]string(nil), prefixes...)
	return func(topic string) string {
		best := OtherClass
		n := -1
		for _, p := range ps {
			if len(p) > n && strings.HasPrefix(topic, p) {
				best, n = p, len(p)
			}
		}
		return best
	}
}
