package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestDocumentedFlagsAreInHelp: a flag the README or docs/ tell users to set is listed by its
// command's --help. A hidden flag is one the user cannot find there (the trail intervals were,
// while docs/cloudtrail.md documented them).
func TestDocumentedFlagsAreInHelp(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	documented := map[string]string{} // flag name -> a file naming it
	flagRE := regexp.MustCompile(`--([a-z][a-z0-9-]+)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range flagRE.FindAllStringSubmatch(string(b), -1) {
			documented[m[1]] = filepath.Base(f)
		}
	}
	if len(documented) == 0 {
		t.Fatal("no flags found in the docs")
	}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Hidden {
			return // internal commands (the bench floor's child) are not documented
		}
		cmd.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			if file, ok := documented[fl.Name]; ok && fl.Hidden {
				t.Errorf("%s documents --%s, which %q --help does not list (hidden)", file, fl.Name, cmd.CommandPath())
			}
		})
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(newRootCmd())
}
