#!/usr/bin/python3
"""sv-bound.py -- run a SIPVicious tool (svmap, svwar, svcrack) from one source
address on loopback.

Usage: /usr/bin/python3 sv-bound.py SRC_IP TOOL [tool options...]

SIPVicious 0.3.3 (Debian's package) accepts -b/--bindingip but svwar and
svcrack never pass it on to their socket: they always bind to 0.0.0.0, so on
loopback their packets leave from 127.0.0.1. The example network needs each
attacker at its own 127.0.2.x address, so this wrapper makes every bind() to
the wildcard address use SRC_IP instead, sets -x SRC_IP (the address the tool
writes into Via/Contact) and then runs the tool's own main() unchanged.
"""
import importlib
import socket
import sys

if len(sys.argv) < 3 or sys.argv[2] not in ("svmap", "svwar", "svcrack"):
    sys.exit("usage: sv-bound.py SRC_IP svmap|svwar|svcrack [options...]")
src, tool = sys.argv[1], sys.argv[2]
socket.inet_aton(src)  # refuse anything but a dotted IPv4 address

_bind = socket.socket.bind


def _bind_to_src(self, address):
    if isinstance(address, tuple) and address and address[0] in ("", "0.0.0.0"):
        address = (src,) + tuple(address[1:])
    return _bind(self, address)


socket.socket.bind = _bind_to_src
sys.path.insert(0, "/usr/share/sipvicious")
module = importlib.import_module("sipvicious." + tool)
sys.argv = [tool, "-x", src] + sys.argv[3:]
sys.exit(module.main())
