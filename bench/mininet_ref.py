#!/usr/bin/python3
"""Mininet reference for the sr6 deploy/destroy benchmark.

Builds the same topology as an sr6 lab with Mininet 2.3 and measures the wall
time of deploy (node + link creation, build, per-node configuration) and
destroy (net.stop()). Prints one JSON line on stdout:

  {"tool":"mininet","version":"2.3.0","routers":R,"hosts":H,"links":L,
   "deploy_s":x,"destroy_s":y,"rss_bytes":m,"processes":p}

rss_bytes is the sum of VmRSS over this process and all its descendants (the
node shells) once the network is deployed, processes how many they were.

All Mininet logging, warnings and errors go to stderr.

Usage (as root; use Debian's /usr/bin/python3, which has the mininet module,
not a pyenv/venv python3 that may come first on PATH):

  sr6 graph --format json lab.yaml > lab.json
  /usr/bin/python3 bench/mininet_ref.py --topology lab.json
  /usr/bin/python3 bench/mininet_ref.py --ring 50

Topology model: every node, router or host, is a plain mininet Host (one
network namespace held by an `mnexec ... bash` shell). Links are veth pairs
with the interface names from the topology; no switches, no controller, no
Open vSwitch (the OVS kernel module is not needed).

What is configured, i.e. what sr6 configures at deploy time apart from
routing:
  * routers: net.ipv6.conf.all.forwarding=1 and seg6_enabled=1 (on "all" and
    on every router interface, because the kernel accepts an SRH only when
    both the "all" and the incoming interface's seg6_enabled are set),
  * every IPv6 and IPv4 interface address from the topology (`nodad`),
  * the router loopback address (/128 on lo).
Routing (static routes, FRR/IS-IS) and SRv6 policies are NOT configured: the
reference only measures the cost of building and tearing down the emulated
network, which is what Mininet itself provides.

Cleanup: net.stop() always runs (try/finally, also on SIGINT/SIGTERM/SIGHUP;
if a signal leaves Mininet unable to stop cleanly, the node shells are killed
directly). It deletes the veths and kills the node shells, which removes their
unnamed network namespaces (nothing is ever visible in `ip netns list`, and no
veth is ever in the root namespace: Mininet creates each pair inside node1's
namespace with the peer directly in node2's). Even after SIGKILL of this
script the shells exit by themselves (their pty closes), so no leftovers were
seen in testing. Should some remain anyway (e.g. the script hangs and is
stopped), `mn -c` removes them: it kills stray `mininet:` shells and deletes
`*-ethN` links in the root namespace. It takes about 1.2 s (a fixed 1 s sleep)
and is NOT needed after normal runs. Beware: `mn -c` also runs
`rm -f /tmp/*.log /tmp/*.out /tmp/vconn* /tmp/vlogs*`, `killall` of
controller ping mnexec ... and `pkill -9 -f mininet:`, so do not run it while
other jobs on the machine use those. After net.stop() this script checks that
no `mininet:` shell is left and exits with status 3 (after printing the JSON
line) if one is.

Debian packages needed: mininet (mnexec; its Depends pull in net-tools for the
`ifconfig` Mininet runs on every interface and checks for at startup, plus
cgroup-tools, iperf, socat, telnet, which are unused here), iproute2 (`ip`)
and procps (`sysctl`). openvswitch-switch is only Recommended by mininet and is
not used: `apt-get install --no-install-recommends mininet iproute2 procps`.
"""

import argparse
import json
import os
import signal
import sys
import time
import traceback


def die(msg, code=2):
    sys.stderr.write('mininet_ref: %s\n' % msg)
    sys.exit(code)


try:
    from mininet.net import Mininet, VERSION
    from mininet.node import Host
    from mininet.log import setLogLevel
except ImportError as e:
    die('cannot import mininet (%s): run with Debian\'s /usr/bin/python3 '
        'and `apt-get install mininet`' % e)


# ---------------------------------------------------------------------------
# Topology input


def ring_topology(n):
    """A ring of n routers in the `sr6 graph --format json` schema.

    r_i:eth2 -- r_{i+1}:eth1 (r_n:eth2 -- r1:eth1), h1:eth0 -- r1:eth0 and
    h2:eth0 -- r_{n/2+1}:eth0. Addresses follow sr6's default plan: router
    links fd00:0:1:<k>::/64, loopbacks fd00:0:ff::<id>, host subnets
    10.0.<k>.0/24 and fd00:0:2:<k>::/64 with the router as ::1 / .1.
    """
    if n < 2:
        die('--ring needs at least 2 routers')
    nodes = {}
    order = []

    def node(name, kind, rid=None):
        nd = {'name': name, 'kind': kind, 'interfaces': []}
        if kind == 'router':
            nd['id'] = rid
            nd['loopback'] = 'fd00:0:ff::%x' % rid
        nodes[name] = nd
        order.append(name)
        return nd

    for i in range(1, n + 1):
        node('r%d' % i, 'router', i)
    node('h1', 'host')
    node('h2', 'host')

    links = []

    def link(a, ai, b, bi, a6, b6, a4=None, b4=None):
        ia = {'name': ai, 'peer': '%s:%s' % (b, bi), 'ipv6': a6}
        ib = {'name': bi, 'peer': '%s:%s' % (a, ai), 'ipv6': b6}
        if a4:
            ia['ipv4'] = a4
        if b4:
            ib['ipv4'] = b4
        nodes[a]['interfaces'].append(ia)
        nodes[b]['interfaces'].append(ib)
        links.append({'endpoints': ['%s:%s' % (a, ai), '%s:%s' % (b, bi)]})

    for i in range(1, n + 1):
        j = i % n + 1
        link('r%d' % i, 'eth2', 'r%d' % j, 'eth1',
             'fd00:0:1:%x::1/64' % i, 'fd00:0:1:%x::2/64' % i)
    for k, (h, r) in enumerate((('h1', 1), ('h2', n // 2 + 1)), start=1):
        link('r%d' % r, 'eth0', h, 'eth0',
             'fd00:0:2:%x::1/64' % k, 'fd00:0:2:%x::2/64' % k,
             '10.0.%d.1/24' % k, '10.0.%d.2/24' % k)
    return {'name': 'ring%d' % n, 'nodes': [nodes[x] for x in order],
            'links': links}


def load_topology(path):
    try:
        with open(path) as f:
            topo = json.load(f)
    except (OSError, ValueError) as e:
        die('--topology %s: %s' % (path, e))
    names = set()
    for nd in topo.get('nodes', []):
        if nd.get('kind') not in ('router', 'host'):
            die('node %r: kind must be router or host' % nd.get('name'))
        names.add(nd['name'])
    for ln in topo.get('links', []):
        for ep in ln['endpoints']:
            if ep.split(':', 1)[0] not in names:
                die('link endpoint %s: unknown node' % ep)
    return topo


# ---------------------------------------------------------------------------
# Deploy / destroy


def node_commands(nd):
    """Shell commands that configure one node, as a single `&&` chain so each
    node costs one round trip to its shell (the cheapest way to drive
    Mininet). Every command is silent on success, so any output is an error.
    """
    cmds = []
    intfs = [i['name'] for i in nd.get('interfaces', [])]
    if nd['kind'] == 'router':
        keys = ['net.ipv6.conf.all.forwarding=1',
                'net.ipv6.conf.all.seg6_enabled=1']
        keys += ['net.ipv6.conf.%s.seg6_enabled=1' % i for i in intfs]
        cmds.append('sysctl -q -w ' + ' '.join(keys))
        if nd.get('loopback'):
            cmds.append('ip -6 addr add %s/128 dev lo' % nd['loopback'])
    for i in nd.get('interfaces', []):
        if i.get('ipv6'):
            cmds.append('ip -6 addr add %s dev %s nodad' % (i['ipv6'], i['name']))
        if i.get('ipv4'):
            cmds.append('ip -4 addr add %s dev %s' % (i['ipv4'], i['name']))
    return cmds


def deploy(net, topo):
    # ip=None: no Mininet-assigned 10.0.0.x address on the first interface.
    mn = {}
    for nd in topo['nodes']:
        mn[nd['name']] = net.addHost(nd['name'], cls=Host, ip=None)
    for ln in topo['links']:
        (n1, i1), (n2, i2) = (ep.split(':', 1) for ep in ln['endpoints'])
        net.addLink(mn[n1], mn[n2], intfName1=i1, intfName2=i2)
    net.build()
    net.start()  # no controller/switch: a no-op kept for completeness
    for nd in topo['nodes']:
        cmds = node_commands(nd)
        if not cmds:
            continue
        out = mn[nd['name']].cmd(' && '.join(cmds)).strip()
        if out:
            raise RuntimeError('configuring %s: %s' % (nd['name'], out))


def tree_rss():
    """Sum of VmRSS (bytes) over this process and its descendants, and
    their count: the memory the emulated network costs in processes."""
    children = {}
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % p) as f:
                # The command name may hold spaces: the fields after the
                # last ')' are fixed, the parent PID is the second.
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(p))
    total, count, todo = 0, 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open('/proc/%d/status' % pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1]) * 1024
                        count += 1
                        break
        except OSError:
            pass
    return total, count


def leftover_shells():
    """PIDs of processes whose command line holds 'mininet:' (the node
    shells, `bash ... -is mininet:<name>`), excluding ourselves."""
    pids = []
    for p in os.listdir('/proc'):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                if b'mininet:' in f.read():
                    pids.append(int(p))
        except OSError:
            pass
    return pids


class Interrupted(Exception):
    pass


def stop(net):
    """net.stop(), falling back to killing every node shell if it fails
    (e.g. when a signal interrupted a node.cmd() and left the node in its
    `waiting` state, which makes Mininet's link deletion assert). Killing a
    shell destroys its namespace and with it the veth ends inside."""
    try:
        net.stop()
    except Exception as e:  # pylint: disable=broad-except
        sys.stderr.write('mininet_ref: net.stop() failed (%r), killing the '
                         'node shells\n' % e)
        for h in net.hosts:
            try:
                h.waiting = False
                h.terminate()
            except Exception:  # pylint: disable=broad-except
                pass


def on_signal(signum, _frame):
    raise Interrupted('signal %d' % signum)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument('--topology', metavar='FILE.json',
                     help='output of `sr6 graph --format json`')
    src.add_argument('--ring', type=int, metavar='N',
                     help='ring of N routers plus 2 hosts, no file needed')
    ap.add_argument('--log-level', default='warning',
                    choices=['debug', 'info', 'output', 'warning', 'error'],
                    help='Mininet log level (always on stderr)')
    args = ap.parse_args()

    if os.geteuid() != 0:
        die('must run as root')
    # stdout is reserved for the result line. Mininet's log handler already
    # writes to stderr; also send any stray print() there.
    result_out, sys.stdout = sys.stdout, sys.stderr
    setLogLevel(args.log_level)

    topo = ring_topology(args.ring) if args.ring else \
        load_topology(args.topology)
    routers = sum(1 for n in topo['nodes'] if n['kind'] == 'router')
    hosts = len(topo['nodes']) - routers

    stale = leftover_shells()
    if stale:
        sys.stderr.write('mininet_ref: warning: %d leftover mininet shells '
                         '(run `mn -c`): timings may be skewed\n' % len(stale))

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)

    net = None
    deploy_s = destroy_s = None
    rss = procs = 0
    failed = None
    try:
        t0 = time.perf_counter()
        net = Mininet(topo=None, controller=None, build=False,
                      autoSetMacs=False, autoStaticArp=False)
        deploy(net, topo)
        deploy_s = time.perf_counter() - t0
        rss, procs = tree_rss()
    except Interrupted as e:
        failed = 'interrupted by %s' % e
    except Exception:  # pylint: disable=broad-except
        traceback.print_exc()
        failed = 'deploy failed'
    finally:
        # A second signal during cleanup must not abort it.
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        if net is not None:
            t1 = time.perf_counter()
            if failed:
                stop(net)
            else:
                net.stop()
            destroy_s = time.perf_counter() - t1
    if failed:
        sys.stderr.write('mininet_ref: %s; cleaned up (if anything is left, '
                         'run `mn -c`)\n' % failed)
        return 1

    print(json.dumps({
        'tool': 'mininet', 'version': VERSION,
        'routers': routers, 'hosts': hosts, 'links': len(topo['links']),
        'deploy_s': round(deploy_s, 4), 'destroy_s': round(destroy_s, 4),
        'rss_bytes': rss, 'processes': procs,
    }), file=result_out, flush=True)

    left = leftover_shells()
    if left:
        sys.stderr.write('mininet_ref: %d mininet shells survived net.stop() '
                         '(pids %s): run `mn -c`\n'
                         % (len(left), ' '.join(map(str, left[:10]))))
        return 3
    return 0


if __name__ == '__main__':
    sys.exit(main())
