package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const replPrompt = "coffer-hsm > "

func (r *hsmRun) interactiveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "interactive",
		Short: "Run commands at a prompt, with the session kept in memory",
		Long: `Read commands line by line at a "coffer-hsm > " prompt and run them as 'coffer hsm <command>'
would, e.g. "login --username admin --role admin" or "key list --filter attr.label='my key'".
Words are split as a shell does: quote them with '...' or "..." and escape with \.
The session from 'login' is kept in memory only (no session file). 'quit', 'exit' or the end
of input leaves, logging out. Lines starting with # are ignored.`,
		Args: r.noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r.cmd = cmd
			return r.runREPL(cmd)
		},
	}
	return cmd
}

// runREPL reads commands from the command's input until quit, exit or EOF.
func (r *hsmRun) runREPL(cmd *cobra.Command) error {
	if r.app.interactive {
		return r.fail(cmd, errors.New("already in interactive mode"))
	}
	if r.output != "json" && r.output != "table" {
		bad := r.output
		r.output = "json"
		return r.fail(cmd, usagef("--output must be json or table, got %q", bad))
	}
	in, out, errw := cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	app := &hsmApp{endpoint: r.endpoint, output: r.output, caCert: r.caCert, interactive: true, http: r.app.http, getenv: r.app.getenv}
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		app.term = f
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	defer func() {
		if app.sess == nil {
			return
		}
		lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := (&hsmRun{app: app, endpoint: app.sess.Endpoint}).client(app.sess.Token).Call(lctx, "logout", nil, nil); err != nil && !isAPIError(err, "NotLoggedIn") {
			fmt.Fprintln(errw, "warning: logging out:", err)
		}
		app.sess = nil
	}()

	br := bufio.NewReader(in)
	for {
		fmt.Fprint(out, replPrompt)
		line, rerr := br.ReadString('\n')
		if line == "" && rerr != nil {
			fmt.Fprintln(out)
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			return r.fail(cmd, fmt.Errorf("reading commands: %w", rerr))
		}
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			words, err := splitCommandLine(line)
			switch {
			case err != nil:
				replError(app, out, errw, err)
			case len(words) == 1 && (words[0] == "quit" || words[0] == "exit"):
				return nil
			case len(words) > 0:
				tree := newHSMTree(app)
				tree.SetArgs(words)
				tree.SetIn(br)
				tree.SetOut(out)
				tree.SetErr(errw)
				if err := tree.ExecuteContext(ctx); err != nil && !isReported(err) {
					replError(app, out, errw, err)
				}
			}
		}
		if rerr != nil { // last line without a newline
			fmt.Fprintln(out)
			return nil
		}
	}
}

// replError shows an error that no command printed (e.g. an unknown command).
func replError(app *hsmApp, out, errw io.Writer, err error) {
	if app.output == "table" {
		fmt.Fprintln(errw, "Error:", err)
		return
	}
	writeJSONResult(out, 1, err.Error())
}

// splitCommandLine splits a line into words as a POSIX shell does, without expansions:
// whitespace separates words; '...' quotes literally; "..." quotes with \" \\ \$ \` escapes;
// outside quotes \ escapes the next character.
func splitCommandLine(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	const (
		plain = iota
		single
		double
	)
	state := plain
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch state {
		case single:
			if c == '\'' {
				state = plain
			} else {
				cur.WriteRune(c)
			}
		case double:
			switch {
			case c == '"':
				state = plain
			case c == '\\' && i+1 < len(rs) && strings.ContainsRune("\"\\$`", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(c)
			}
		default:
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				if inWord {
					words = append(words, cur.String())
					cur.Reset()
					inWord = false
				}
			case c == '\'':
				state, inWord = single, true
			case c == '"':
				state, inWord = double, true
			case c == '\\':
				inWord = true
				if i+1 < len(rs) {
					i++
					cur.WriteRune(rs[i])
				} else {
					cur.WriteRune(c)
				}
			default:
				inWord = true
				cur.WriteRune(c)
			}
		}
	}
	switch state {
	case single:
		return nil, errors.New("unterminated ' quote")
	case double:
		return nil, errors.New(`unterminated " quote`)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
