package main

import (
	"fmt"
	"strings"

	"github.com/zenpatch/zenpatch/internal/frontend"
	"github.com/zenpatch/zenpatch/internal/zope"
)

func cmdFrontend(inv *invocation, args []string) error {
	var f installFlags
	fs := newFlags(inv, "frontend", "frontend apache|haproxy|nginx [flags]", `
Print configuration for your own front end instead of zenpatch's balancer,
derived from the install: it listens on zope.conf's HTTP address and
balances over the ZOPES instances (HAProxy: leastconn, maxconn =
zserver-threads; nginx: least_conn; Apache: mod_proxy_balancer bybusyness).
Then turn zenpatch's balancer off with 'balancer off' in etc/zenpatch.conf.

Examples:
  zenpatch frontend haproxy > /etc/haproxy/haproxy.cfg && haproxy -c -f /etc/haproxy/haproxy.cfg
  zenpatch frontend apache  > /etc/httpd/conf.d/zenoss.conf && apachectl -t`)
	f.addHome(fs)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("", "frontend needs one of: %s", strings.Join(frontend.Kinds, ", "))
	}
	inst, err := f.open(inv)
	if err != nil {
		return err
	}
	defer inst.Close()
	ctl, err := zope.New(inst, nil)
	if err != nil {
		return err
	}
	if !ctl.Multi() {
		fmt.Fprintf(inv.stderr, "zenpatch: note: ZOPES=%d: the configuration below is for when ZOPES > 1 ('zenpatch apply --zopes N')\n", ctl.Zopes)
	}
	out, err := frontend.Render(fs.Arg(0), ctl.FrontendSite())
	if err != nil {
		return usageErr("", "%v", err)
	}
	_, err = inv.stdout.Write(out)
	return err
}
