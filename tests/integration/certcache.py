# SPDX-License-Identifier: GPL-2.0-or-later
"""One certificate set per pytest process instead of one per test tree.

certs.make_certs() runs openssl about a dozen times (~0.9 s); the fault, signal and
security tests build well over a hundred trees, so they copy a set made once.  Use the
`fast_certs` fixture (autouse in those modules); `other_ca(dir)` gives a second, unrelated
CA (for "server certificate not from the configured CA")."""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "sim"))
import certs  # noqa: E402

_real_make_certs = certs.make_certs
_masters = {}


def _master(kind):
    if kind not in _masters:
        _masters[kind] = _real_make_certs(tempfile.mkdtemp(prefix="pve-ontap-%s-" % kind))
    return _masters[kind]


def _copy(kind, dirpath):
    m = _master(kind)
    d = os.path.abspath(str(dirpath))
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(m["dir"]):
        shutil.copy2(os.path.join(m["dir"], name), os.path.join(d, name))
    out = {}
    for k, v in m.items():
        if isinstance(v, str) and v.startswith(m["dir"]):
            v = d + v[len(m["dir"]):]
        out[k] = v
    return out


def cached_make_certs(dirpath):
    return _copy("certs", dirpath)


def other_ca(dirpath):
    """A complete certificate set from a CA the test trees do not trust."""
    return _copy("other", dirpath)


@pytest.fixture
def fast_certs(monkeypatch):
    monkeypatch.setattr(certs, "make_certs", cached_make_certs)
