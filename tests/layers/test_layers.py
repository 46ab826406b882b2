# SPDX-License-Identifier: GPL-2.0-or-later
"""tests/layers/check.py holds on the tree, and finds what it exists to find."""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def copy_tree(tmp_path):
    for top in ("lib", "policies", "hooks", "watcher", "cli"):
        shutil.copytree(os.path.join(REPO, top), str(tmp_path / top),
                        ignore=shutil.ignore_patterns("*.o", "*.d"))
    return str(tmp_path)


def plant(root, rel, line):
    path = os.path.join(root, rel)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("\n", "\n" + line + "\n", 1))


def test_tree_obeys_the_layer_rule():
    assert check.check(REPO) == []


def test_every_source_folder_has_a_layer():
    for rel in check.sources(REPO):
        assert check.folder_of(rel) is not None, rel


@pytest.mark.parametrize("rel,line,problem", [
    ("lib/base/buf.c", '#include "ops/ops.h"',
     "lib/base/buf.c:2: upward include of lib/ops/ops.h (lib/ops is above lib/base)"),
    ("lib/ops/ops.c", '#include "cli.h"',
     "lib/ops/ops.c:2: upward include of cli/cli.h (cli is above lib/ops)"),
    ("lib/pve/pve_local.c", '#include "ontap/ontap.h"',
     "lib/pve/pve_local.c:2: include of sibling layer lib/ontap/ontap.h from lib/pve"),
])
def test_planted_violation_is_found(tmp_path, rel, line, problem):
    root = copy_tree(tmp_path)
    plant(root, rel, line)
    assert check.check(root) == [problem]


def test_planted_cycle_is_found(tmp_path):
    root = copy_tree(tmp_path)
    plant(root, "lib/base/buf.h", '#include "base/util.h"')
    plant(root, "lib/base/util.h", '#include "base/buf.h"')
    problems = check.check(root)
    assert len(problems) == 1 and "include cycle" in problems[0], problems
    assert "lib/base/buf.h" in problems[0] and "lib/base/util.h" in problems[0]
