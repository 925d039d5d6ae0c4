// Package pollwiretest holds test and benchmark helpers for the poll and
// longpoll packages: the scenarios both clients must pass,
// CheckNoGapUnderCuts (every message once and in order while requests are
// cut), CheckSameInstant (messages stamped alike all arrive) and
// CheckCursors (the one meaning of "", latest and 0); Publish
// and Receive; a middleware counting requests and 304 answers, and a
// transport that strips conditional requests. The network helpers they
// share with the other packages' tests, including the request Cutter, are
// in testnet.
package pollwiretest
