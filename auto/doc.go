// Package auto serves bus topics over every transport under one prefix and
// consumes them with clients that pick the best transport that works.
package auto
