package measure_test

import (
	"bytes"
	"flag"
	"fmt"
	"testing"

	"github.com/pushpull/pushpull/examples/internal/measure"
	"github.com/stretchr/testify/assert"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		args   []string
		status int
		ok     bool
		out    string
	}{
		{nil, 0, true, ""},
		{[]string{"-n", "3"}, 0, true, ""},
		{[]string{"-h"}, 0, false, "Usage of demo"},
		{[]string{"-nope"}, 2, false, "flag provided but not defined: -nope"},
		{[]string{"-n", "x"}, 2, false, "invalid value"},
		{[]string{"stray"}, 2, false, `demo: unexpected arguments ["stray"]`},
	} {
		var out bytes.Buffer
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		fs.SetOutput(&out)
		fs.Int("n", 1, "a number")
		status, ok := measure.ParseFlags(fs, c.args)
		assert.Equal(t, c.status, status, "%q", c.args)
		assert.Equal(t, c.ok, ok, "%q", c.args)
		assert.Contains(t, out.String(), c.out, "%q", c.args)
	}
}

func ExampleParseFlags() {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	n := fs.Int("n", 1, "a number")
	if status, ok := measure.ParseFlags(fs, []string{"-n", "3"}); !ok {
		fmt.Println("exit", status)
		return
	}
	fmt.Println("n =", *n)
	// Output: n = 3
}
