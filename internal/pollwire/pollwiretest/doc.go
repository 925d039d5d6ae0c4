// Package pollwiretest holds benchmark helpers for the poll and longpoll
// packages: a middleware counting requests and 304 answers, and a transport
// that strips conditional requests. The network helpers they share with
// the other packages' tests, including the request Cutter, are in
// internal/testnet.
package pollwiretest
