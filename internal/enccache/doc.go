// Package enccache keeps the wire forms of recent messages, so that the
// connections of a Handler that send the same message encode it once: the
// SSE streams of a Handler share their events, and WebSocket connections
// catching up from the history share their envelopes.
package enccache
