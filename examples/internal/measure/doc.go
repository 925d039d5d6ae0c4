// Package measure holds what the examples' measuring commands (compare,
// load) share:
//
//   - the server of a measurement runs in a child process, the running
//     program started again with an environment variable set and talking
//     over its standard input and output, so that its CPU time and memory
//     are its own and not the load generator's: a command calls
//     [ServeIfChild] first thing in main (and in TestMain, where the running
//     program is the test binary), then [Start] for each server and
//     [Proc.Stop] when done;
//   - [Pace] runs a step at a fixed rate, as a publisher does;
//   - [ParseFlags] parses a command line.
package measure
