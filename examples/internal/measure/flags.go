package measure

import (
	"errors"
	"flag"
	"fmt"
)

// ParseFlags parses args with fs, which should be made with
// flag.ContinueOnError, as every measuring command does: -h prints the usage
// and succeeds, a bad flag or a stray argument is a usage error. It returns
// ok when the command should go on; otherwise the command should exit with
// status (0 after -h, else 2, the error having been printed to
// fs.Output()).
func ParseFlags(fs *flag.FlagSet, args []string) (status int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return 2, false
	}
	return 0, true
}
