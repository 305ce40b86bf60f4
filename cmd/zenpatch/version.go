package main

import (
	"encoding/json"
	"fmt"

	"github.com/zenpatch/zenpatch/internal/buildinfo"
)

func cmdVersion(inv *invocation, args []string) error {
	fs := newFlags(inv, "version", "version [--json]", `Print zenpatch's own version, the commit it was built from ("modified"
when the work tree had uncommitted changes) and the Go version that built
it. Packages set the version; a plain 'go build' says "dev".

Examples:
  zenpatch version                  # zenpatch 1.2.3 (commit 176d20a1b2c3, go1.26.8)
  zenpatch version --json`)
	asJSON := fs.Bool("json", false, "print the stable JSON form")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	info := buildinfo.Get()
	if *asJSON {
		enc := json.NewEncoder(inv.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Fprintln(inv.stdout, info)
	return nil
}
