package main

import (
	"fmt"
	"strings"

	"github.com/zenpatch/zenpatch/internal/frontend"
	"github.com/zenpatch/zenpatch/internal/zope"
)

func cmdFrontend(e *env, args []string) error {
	var c common
	fs := newFlags(e, "frontend", "frontend apache|haproxy|nginx [flags]", `
Print configuration for your own front end instead of zenpatch's balancer,
derived from the install: it listens on zope.conf's HTTP address and
balances over the ZOPES instances (HAProxy: leastconn, maxconn =
zserver-threads; nginx: least_conn; Apache: mod_proxy_balancer bybusyness).
Then turn zenpatch's balancer off with 'balancer off' in etc/zenpatch.conf.

Examples:
  zenpatch frontend haproxy > /etc/haproxy/haproxy.cfg && haproxy -c -f /etc/haproxy/haproxy.cfg
  zenpatch frontend apache  > /etc/httpd/conf.d/zenoss.conf && apachectl -t`)
	c.installFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("frontend needs one of: %s", strings.Join(frontend.Kinds, ", "))
	}
	kind := fs.Arg(0)
	inst, err := c.open(e)
	if err != nil {
		return err
	}
	defer inst.Close()
	ctl, err := zope.New(inst, nil)
	if err != nil {
		return explain(err)
	}
	if !ctl.Multi() {
		fmt.Fprintf(e.stderr, "zenpatch: note: ZOPES=%d: the configuration below is for when ZOPES > 1 ('zenpatch apply --zopes N')\n", ctl.Zopes)
	}
	site := frontend.Site{Source: inst.Home, ListenHost: ctl.Conf.HTTPHost, ListenPort: ctl.Conf.HTTPPort,
		HealthPath: ctl.Settings.HealthPath, SlowStart: int(ctl.Settings.Balancer.SlowStart.Seconds())}
	n := max(ctl.Zopes, 2)
	for i := 1; i <= n; i++ {
		in := ctl.Instance(i)
		site.Backends = append(site.Backends, frontend.Backend{Name: fmt.Sprintf("zope%d", i), Addr: in.Addr(), Cap: ctl.Conf.Threads})
	}
	out, err := frontend.Render(kind, site)
	if err != nil {
		return usageErr("%v", err)
	}
	_, err = e.stdout.Write(out)
	return err
}
