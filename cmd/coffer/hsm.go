package main

// `coffer hsm`: the HSM's command-line client, modelled on AWS CloudHSM's cloudhsm-cli. It
// speaks the native API (internal/hsmapi) and keeps presentation only: the server does all
// key handling. The only cryptography here is client-side by design: signing an MFA login
// challenge and signing quorum tokens as an approver, with keys that never leave the user.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

const (
	defaultHSMEndpoint = "http://127.0.0.1:8990"

	// Environment variables of `coffer hsm`.
	envEndpoint    = "COFFER_ENDPOINT"
	envSessionFile = "COFFER_SESSION_FILE"
	envUsername    = "COFFER_USERNAME"
	envRole        = "COFFER_ROLE"
	envPassword    = "COFFER_PASSWORD"
)

// hsmApp is the state shared by the commands of one `coffer hsm` invocation, and by all the
// lines of an interactive session.
type hsmApp struct {
	// defaults of the global flags (an interactive session passes its own on to its lines)
	endpoint string
	output   string
	caCert   string

	// interactive is set inside the REPL: the session lives in memory (sess), not in a file.
	interactive bool
	sess        *hsmSession
	// term is the REPL's terminal, for password prompts (nil when input is not a terminal).
	term *os.File

	// http is the HTTP client for the native API (nil: hsmapi's default).
	http *http.Client
	// getenv reads the environment (os.Getenv; replaced in tests).
	getenv func(string) string
}

// hsmRun is one command execution: the global flags' values and the streams.
type hsmRun struct {
	app      *hsmApp
	cmd      *cobra.Command
	endpoint string
	output   string
	caCert   string
	// transport trusts --ca-cert (nil: the default transport)
	transport http.RoundTripper
	// progressOpen: a progress line without its newline is on stderr.
	progressOpen bool
}

func newHSMCmd() *cobra.Command {
	return newHSMTree(newHSMApp())
}

func newHSMApp() *hsmApp {
	ep := os.Getenv(envEndpoint)
	if ep == "" {
		ep = defaultHSMEndpoint
	}
	return &hsmApp{endpoint: ep, output: "json", caCert: os.Getenv(envCACert), getenv: os.Getenv}
}

// newHSMTree builds the `hsm` command tree. The REPL builds a fresh tree for every line so
// that no flag value leaks from one line to the next.
func newHSMTree(app *hsmApp) *cobra.Command {
	r := &hsmRun{app: app}
	root := &cobra.Command{
		Use:   "hsm",
		Short: "Use the HSM: users, keys, quorum and cryptography (cloudhsm-cli's commands)",
		Long: `The HSM's command-line client, with the commands, flags and JSON output of AWS CloudHSM's
cloudhsm-cli: {"error_code": 0, "data": {...}} on success, {"error_code": 1, "data": "<message>"}
on failure (--output table prints tables and "key: value" lines instead).

Single-command mode keeps the session in a file (see 'coffer hsm login --help'):
  coffer hsm login --username admin --role admin
  coffer hsm user list
  coffer hsm logout
Without a session file, COFFER_USERNAME, COFFER_ROLE and COFFER_PASSWORD log in for one
command and log out after it.

Interactive mode ('coffer hsm' on a terminal, or 'coffer hsm interactive') reads commands at a
"coffer-hsm > " prompt and keeps the session in memory until quit, exit or end of input.

Exit status: 0 success, 1 error, 2 usage error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          r.noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !app.interactive && isTerminal(cmd.InOrStdin()) {
				return r.runREPL(cmd)
			}
			return cmd.Help()
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&r.endpoint, "endpoint", app.endpoint, "URL of the Coffer server (env "+envEndpoint+")")
	pf.StringVar(&r.output, "output", app.output, "output format: json (cloudhsm-cli's) or table")
	pf.StringVar(&r.caCert, "ca-cert", app.caCert, "PEM CA certificate to trust for an https endpoint, e.g. <data-dir>/tls/ca.pem of the node (env "+envCACert+")")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return r.fail(cmd, usageError{err})
	})

	root.AddCommand(
		r.loginCmd(), r.logoutCmd(), r.clusterCmd(), r.userCmd(), r.quorumCmd(),
		r.keyCmd(), r.cryptoCmd(), r.backupCmd(), r.interactiveCmd(),
	)
	return root
}

// ---- errors ----

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// reportedError is an error already printed in the selected output format.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// Reported tells a caller that the error was already shown to the user (as JSON on stdout).
func (e *reportedError) Reported() bool { return true }

func isReported(err error) bool {
	var r interface{ Reported() bool }
	return errors.As(err, &r) && r.Reported()
}

// fail shows err in the output format and returns the error that sets the exit status. In
// JSON mode the error is printed here as cloudhsm-cli does, on stdout; in table mode the
// caller (main, or the REPL) prints "Error: <message>" on stderr.
func (r *hsmRun) fail(cmd *cobra.Command, err error) error {
	if err == nil || isReported(err) {
		return err
	}
	code := 1
	var ue usageError
	if errors.As(err, &ue) {
		code = 2
	}
	out := r.output
	if out != "table" {
		out = "json"
	}
	if out == "json" {
		writeJSONResult(cmd.OutOrStdout(), 1, err.Error())
		err = &reportedError{err}
	} else if r.app.interactive {
		fmt.Fprintln(cmd.ErrOrStderr(), "Error:", err)
		err = &reportedError{err}
	}
	return &exitError{code: code, err: err}
}

// ---- running commands ----

// action is the body of a command: it returns the data to print.
type action func(ctx context.Context, r *hsmRun, args []string) (any, error)

// run wraps an action: it checks the global flags and the required flags, runs it and
// prints its result or error.
func (r *hsmRun) run(fn action) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		r.cmd = cmd
		if r.output != "json" && r.output != "table" {
			bad := r.output
			r.output = "json"
			return r.fail(cmd, usagef("--output must be json or table, got %q", bad))
		}
		if err := checkRequired(cmd); err != nil {
			return r.fail(cmd, err)
		}
		tlsConfig, err := caTLSConfig(r.caCert)
		if err != nil {
			return r.fail(cmd, usageError{err})
		}
		if tlsConfig != nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = tlsConfig
			r.transport = tr
		}
		data, err := fn(cmd.Context(), r, args)
		if err != nil {
			return r.fail(cmd, err)
		}
		if err := r.print(cmd.OutOrStdout(), data); err != nil {
			return r.fail(cmd, err)
		}
		return nil
	}
}

// client returns an API client without a session.
func (r *hsmRun) client(token string) *hsmapi.Client {
	return &hsmapi.Client{Endpoint: r.endpoint, Token: token, HTTP: r.app.http, Transport: r.transport}
}

// withSession runs fn with a logged-in client: the interactive session, the session file,
// or a one-shot login from COFFER_USERNAME, COFFER_ROLE and COFFER_PASSWORD.
func (r *hsmRun) withSession(ctx context.Context, fn func(c *hsmapi.Client) (any, error)) (any, error) {
	c, done, err := r.sessionClient(ctx)
	if err != nil {
		return nil, err
	}
	data, err := fn(c)
	done()
	if err != nil {
		return nil, r.sessionHint(err)
	}
	return data, nil
}

// call runs one API command in a session and returns its data as raw JSON.
func (r *hsmRun) call(ctx context.Context, command string, req any) (any, error) {
	return r.withSession(ctx, func(c *hsmapi.Client) (any, error) {
		var raw rawJSON
		if err := c.Call(ctx, command, req, &raw); err != nil {
			return nil, err
		}
		return raw, nil
	})
}

// noArgs rejects positional arguments as a usage error, naming them.
func (r *hsmRun) noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return r.fail(cmd, usagef("unknown command %q for %q; see '%s --help'", args[0], cmd.CommandPath(), cmd.CommandPath()))
	}
	return r.fail(cmd, usagef("%q takes no arguments, got %q (values go in flags; see '%s --help')", cmd.CommandPath(), strings.Join(args, " "), cmd.CommandPath()))
}

// group is a command that only holds subcommands.
func (r *hsmRun) group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  r.noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	c.AddCommand(subs...)
	return c
}

// leaf builds a command without positional arguments.
func (r *hsmRun) leaf(use, short string, fn action) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: r.noArgs, RunE: r.run(fn)}
}

const requiredAnnotation = "coffer_required_flags"

// required marks flags as required: checked by run (a usage error naming the flags) and
// shown in --help.
func required(cmd *cobra.Command, names ...string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	for _, n := range names {
		f := cmd.Flags().Lookup(n)
		if f == nil {
			panic("hsm: no flag " + n)
		}
		f.Usage += " (required)"
	}
	prev := cmd.Annotations[requiredAnnotation]
	if prev != "" {
		prev += ","
	}
	cmd.Annotations[requiredAnnotation] = prev + strings.Join(names, ",")
}

func checkRequired(cmd *cobra.Command) error {
	list := cmd.Annotations[requiredAnnotation]
	if list == "" {
		return nil
	}
	var missing []string
	for _, n := range strings.Split(list, ",") {
		if !cmd.Flags().Changed(n) {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return usagef("%s: missing required flag(s) %s", cmd.CommandPath(), strings.Join(missing, ", "))
	}
	return nil
}

// splitList expands repeatable list flags: each value may also hold several comma-separated
// name=value items ("attr.class=secret-key,attr.label=k1") when every item has an "=".
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		parts := strings.Split(v, ",")
		all := len(parts) > 1
		for _, p := range parts {
			if !strings.Contains(p, "=") {
				all = false
			}
		}
		if all {
			for _, p := range parts {
				out = append(out, strings.TrimSpace(p))
			}
		} else {
			out = append(out, v)
		}
	}
	return out
}

// changed reports whether a flag was given.
func changed(cmd *cobra.Command, name string) bool { return cmd.Flags().Changed(name) }

// readFileFlag reads the file a flag names.
func readFileFlag(flag, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	return b, nil
}
