// Package refmap keeps per-key values that several users share, counting
// the users of each, so that the last to leave can tear the value down.
// The ws and longpoll handlers keep their per-topic fan-outs in one.
package refmap
