// Command punchcard is the single Punchcard binary: the server (serve), migrations,
// the operator's command line for tenants, API keys and the audit log, and the
// policy author's `policy check` and `policy test`. It only parses arguments and
// configuration and calls platform/app (or, for policy commands, which need no
// database, the policies package).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // tenants name IANA zones; the container image has no zoneinfo

	"github.com/punchcard-loyalty/punchcard/platform/config"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(stderr, "punchcard:", err)
		return 2
	}
	root := newRoot(&cfg, stdout, stderr)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "punchcard:", oneLine(err))
	var ue usageError
	if errors.As(err, &ue) || problem.Is(err, problem.KindInvalid) || isCobraUsage(err) {
		return 2
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// exitError carries a specific exit status with its message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
