package main

import "fmt"

// Version is zenpatch's own version, set at build time with
// -ldflags "-X main.Version=…".
var Version = "0.1.0-dev"

func cmdVersion(inv *invocation, args []string) error {
	fs := newFlags(inv, "version", "version", "Print zenpatch's own version.\n\nExample:\n  zenpatch version")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	fmt.Fprintf(inv.stdout, "zenpatch %s\n", Version)
	return nil
}
