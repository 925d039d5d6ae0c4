// Package httptopic finds the topic and cursor of an HTTP request the same way
// in every transport handler.
package httptopic
