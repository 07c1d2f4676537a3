// Command coffer is Coffer: a self-hosted HSM cluster and key management service that speaks
// the AWS wire protocols. `coffer server` runs a node; `coffer hsm` is the HSM's CLI.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		if !isReported(err) {
			fmt.Fprintln(os.Stderr, "Error:", err)
		}
		os.Exit(exitCode(err))
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "coffer",
		Short: "Coffer: a self-hosted HSM cluster and KMS that speaks the AWS protocols",
		Long: `Coffer is a self-hosted HSM cluster and key management service. It keeps keys inside a
guarded boundary (the HSM core), replicates its state with Raft, and speaks the AWS wire
protocols so that the AWS CLI and SDKs work with --endpoint-url.

Start a development node:   coffer server --dev --data-dir ./coffer-data
Use the HSM:                coffer hsm login --username admin --role admin`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newServerCmd(), newHSMCmd(), newBenchCmd(), newBenchFloorCmd(), newTrailCmd())
	return root
}

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
