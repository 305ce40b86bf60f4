#!/usr/bin/env python3
"""Where a machine's idle time comes from, from `perf script` of a
`perf sched record` (sched_switch, sched_waking or sched_wakeup, sched_migrate_task).

Prints each CPU's idle share, and how much of it was "stranded": time a CPU
sat idle while a task was runnable on another CPU's run queue, waiting there
(the kernel did not move it over). Then the idle time by the task that ran
before and after each idle period, named by command (threads of one process
share it), for periods of at least 50 us.

Usage: perf script -i perf.data -F comm,pid,tid,cpu,time,event,trace | schedidle.py
"""
import collections
import re
import sys

EV = re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s*(.*)$')
SWITCH = re.compile(r'prev_comm=(.*) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*) next_pid=(\d+)')
WAKEUP = re.compile(r'comm=(.*) pid=(\d+) .*target_cpu=(\d+)')
MIGRATE = re.compile(r'comm=(.*) pid=(\d+) .*orig_cpu=(\d+) dest_cpu=(\d+)')


def main():
    waiting = collections.defaultdict(set)  # cpu -> tids runnable there, not running
    where = {}  # tid -> cpu it waits on
    idle_since = {}  # cpu -> time it went idle
    before = {}  # cpu -> command that ran before the idle period
    stranded_since = {}  # cpu -> time it was idle with work waiting elsewhere
    idle = collections.Counter()
    stranded = collections.Counter()
    by_pair = collections.Counter()
    n_pair = collections.Counter()
    cpus = set()
    first = last = None

    def others_waiting(cpu):
        return any(waiting[c] for c in cpus if c != cpu)

    def settle(t):
        # start or end "stranded" spans as run queues change
        for c in cpus:
            s = c in idle_since and others_waiting(c)
            if s and c not in stranded_since:
                stranded_since[c] = t
            elif not s and c in stranded_since:
                stranded[c] += t - stranded_since.pop(c)

    def close_idle(cpu, t, comm):
        d = t - idle_since.pop(cpu)
        idle[cpu] += d
        if d >= 50e-6:
            key = (before.pop(cpu, '?'), comm)
            by_pair[key] += d
            n_pair[key] += 1

    def unwait(tid):
        c = where.pop(tid, None)
        if c is not None:
            waiting[c].discard(tid)

    for line in sys.stdin:
        m = EV.match(line)
        if not m:
            continue
        cpu, t, kind, rest = int(m.group(4)), float(m.group(5)), m.group(6), m.group(7)
        cpus.add(cpu)
        first = t if first is None else first
        last = t
        if m.group(3) != '0' and m.group(3) in where and where[m.group(3)] == cpu and kind != 'sched_switch':
            unwait(m.group(3))  # it runs, so it no longer waits
        if m.group(3) != '0' and cpu in idle_since:
            # a task is running there: the idle period has ended, even
            # when the switch out of idle was not recorded (perf loses
            # some on a CPU leaving a deep idle state)
            close_idle(cpu, t, m.group(1))
        if kind == 'sched_switch':
            s = SWITCH.search(rest)
            if not s:
                continue
            pcomm, ppid, pstate, ncomm, npid = s.groups()
            if ppid != '0' and pstate.startswith('R'):  # preempted: waits here
                unwait(ppid)
                waiting[cpu].add(ppid)
                where[ppid] = cpu
            elif ppid != '0':
                unwait(ppid)
            if npid == '0':
                idle_since[cpu] = t
                before[cpu] = pcomm
            else:
                unwait(npid)
                if ppid == '0' and cpu in idle_since:
                    close_idle(cpu, t, ncomm)
        elif kind in ('sched_waking', 'sched_wakeup', 'sched_wakeup_new'):
            w = WAKEUP.search(rest)
            if w:
                unwait(w.group(2))
                c = int(w.group(3))
                waiting[c].add(w.group(2))
                where[w.group(2)] = c
                cpus.add(c)
        elif kind == 'sched_migrate_task':
            g = MIGRATE.search(rest)
            if g and g.group(2) in where:
                unwait(g.group(2))
                c = int(g.group(4))
                waiting[c].add(g.group(2))
                where[g.group(2)] = c
                cpus.add(c)
        settle(t)
    if first is None:
        sys.exit('schedidle: no sched events read (was perf sched record run as root?)')
    span = last - first
    for c in sorted(cpus):
        if c in idle_since:
            idle[c] += last - idle_since[c]
        if c in stranded_since:
            stranded[c] += last - stranded_since[c]
    total_idle, total_stranded = sum(idle.values()), sum(stranded.values())
    print("span %.2f s, %d CPUs: idle %.2f %% of CPU time, stranded %.2f %% (idle while a task waited on another CPU's run queue)"
          % (span, len(cpus), 100 * total_idle / (span * len(cpus)), 100 * total_stranded / (span * len(cpus))))
    for c in sorted(cpus):
        print("  cpu%d: idle %.2f %%, stranded %.2f %%" % (c, 100 * idle[c] / span, 100 * stranded[c] / span))
    print("idle periods of 50 us or more, by what ran before and after (ms, count):")
    for (a, b), d in by_pair.most_common(8):
        print("  %8.2f ms %6d  %s -> idle -> %s" % (d * 1e3, n_pair[(a, b)], a, b))


if __name__ == '__main__':
    main()
