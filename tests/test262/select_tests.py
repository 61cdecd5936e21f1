#!/usr/bin/env python3
"""Chooses Ken's test262 sample and copies it here, verbatim (README.md).

Usage: tests/test262/select_tests.py --git-dir TEST262_GIT_DIR [--commit REV]

TEST262_GIT_DIR is a clone of https://github.com/tc39/test262 (bare or not:
its .git directory); REV defaults to HEAD. Rewrites, next to this script:
test/ (the selected tests, same relative paths as upstream), harness/ (the
harness files they include), LICENSE (test262's), and manifest.txt (one line
per test: what both runners need from its metadata). Then regenerate
expected_pass.txt / expected_fail.txt with update_expected.sh.

The selection is deterministic for a given upstream commit:
  - every eligible test under REQUIRED (the built-ins Ken defines itself in
    snapshot-creating isolates: js_api/polyfills.js);
  - plus, for each area of SAMPLE, the first N eligible tests ordered by the
    SHA-1 of their path (so a refresh at a newer commit keeps most of them).
Eligible: a test file (not *_FIXTURE.js) of at most MAX_BYTES bytes that
excluded() does not rule out.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys

import yaml  # Debian: python3-yaml

HERE = os.path.dirname(os.path.abspath(__file__))

REQUIRED = [
    "test/built-ins/Object/hasOwn/",
    "test/built-ins/Array/prototype/at/",
    "test/built-ins/Array/prototype/findLast/",
    "test/built-ins/Array/prototype/findLastIndex/",
    "test/built-ins/String/prototype/at/",
    "test/built-ins/TypedArray/prototype/at/",
    "test/built-ins/TypedArray/prototype/findLast/",
    "test/built-ins/TypedArray/prototype/findLastIndex/",
]

# (path prefix, how many tests to take from it)
SAMPLE = [
    ("test/built-ins/Array/", 30),
    ("test/built-ins/ArrayBuffer/", 4),
    ("test/built-ins/ArrayIteratorPrototype/", 2),
    ("test/built-ins/AsyncFunction/", 2),
    ("test/built-ins/AsyncGeneratorPrototype/", 3),
    ("test/built-ins/BigInt/", 8),
    ("test/built-ins/Boolean/", 3),
    ("test/built-ins/DataView/", 5),
    ("test/built-ins/Date/", 15),
    ("test/built-ins/Error/", 3),
    ("test/built-ins/Function/", 12),
    ("test/built-ins/GeneratorPrototype/", 4),
    ("test/built-ins/JSON/", 10),
    ("test/built-ins/Map/", 8),
    ("test/built-ins/Math/", 12),
    ("test/built-ins/NativeErrors/", 3),
    ("test/built-ins/Number/", 10),
    ("test/built-ins/Object/", 25),
    ("test/built-ins/Promise/", 20),
    ("test/built-ins/Proxy/", 12),
    ("test/built-ins/Reflect/", 8),
    ("test/built-ins/RegExp/", 16),
    ("test/built-ins/Set/", 8),
    ("test/built-ins/String/", 22),
    ("test/built-ins/Symbol/", 6),
    ("test/built-ins/TypedArray/", 8),
    ("test/built-ins/TypedArrayConstructors/", 6),
    ("test/built-ins/WeakMap/", 4),
    ("test/built-ins/WeakSet/", 4),
    ("test/built-ins/global/", 2),
    ("test/built-ins/isNaN/", 2),
    ("test/built-ins/parseFloat/", 2),
    ("test/built-ins/parseInt/", 3),
    ("test/language/arguments-object/", 8),
    ("test/language/asi/", 4),
    ("test/language/block-scope/", 8),
    ("test/language/comments/", 2),
    ("test/language/computed-property-names/", 2),
    ("test/language/destructuring/", 2),
    ("test/language/directive-prologue/", 3),
    ("test/language/eval-code/", 6),
    ("test/language/expressions/", 50),
    ("test/language/function-code/", 8),
    ("test/language/future-reserved-words/", 2),
    ("test/language/global-code/", 4),
    ("test/language/identifier-resolution/", 2),
    ("test/language/identifiers/", 4),
    ("test/language/keywords/", 2),
    ("test/language/line-terminators/", 2),
    ("test/language/literals/", 12),
    ("test/language/punctuators/", 1),
    ("test/language/reserved-words/", 2),
    ("test/language/rest-parameters/", 2),
    ("test/language/statementList/", 2),
    ("test/language/statements/", 50),
    ("test/language/types/", 8),
    ("test/language/white-space/", 3),
]

MAX_BYTES = 16000

# Flags the runners do not implement (modules, raw source, agents).
BAD_FLAGS = {"module", "raw", "CanBlockIsFalse", "CanBlockIsTrue"}

# Features Ken does not have in both modes (SharedArrayBuffer, Atomics,
# WeakRef, FinalizationRegistry: docs/api.md; no realms, agents, GC hook or
# module loader), and features newer than V8 10.2 ships (off by default or
# absent there). What V8 10.2 still fails is listed in expected_fail.txt.
DENY_FEATURES = set("""
SharedArrayBuffer Atomics Atomics.pause Atomics.waitAsync WeakRef FinalizationRegistry
cross-realm host-gc-required IsHTMLDDA
dynamic-import top-level-await import.meta import-attributes import-bytes import-defer import-text
json-modules source-phase-imports source-phase-imports-module-source
export-star-as-namespace-from-module arbitrary-module-namespace-names
Array.fromAsync Temporal ShadowRealm decorators explicit-resource-management array-grouping
change-array-by-copy set-methods iterator-helpers iterator-chunking iterator-includes
iterator-sequencing joint-iteration Iterator.prototype.join regexp-v-flag regexp-modifiers
regexp-duplicate-named-groups RegExp.escape resizable-arraybuffer arraybuffer-transfer
immutable-arraybuffer promise-with-resolvers promise-try Float16Array Math.sumPrecise
uint8array-base64 upsert json-parse-with-source Error.isError String.prototype.isWellFormed
String.prototype.toWellFormed symbols-as-weakmap-keys await-dictionary Intl.Era-monthcode
error-stack-accessor tail-call-optimization
""".split())

# Harness files that need a host hook neither runner provides: Ken's JS has
# no way to detach an ArrayBuffer ($262.detachArrayBuffer), nor agents.
BAD_INCLUDES = {"detachArrayBuffer.js", "atomicsHelper.js"}


def metadata(src):
    m = re.search(r"/\*---(.*?)---\*/", src, re.S)
    return (yaml.safe_load(m.group(1)) if m else None) or {}


def excluded(md, src):
    """Why a test is not eligible ('' if it is)."""
    for f in md.get("flags") or []:
        if f in BAD_FLAGS:
            return "flag " + f
    for f in md.get("features") or []:
        if f in DENY_FEATURES:
            return "feature " + f
    for i in md.get("includes") or []:
        if i in BAD_INCLUDES:
            return "includes " + i
    if "$262" in src:
        return "uses $262 (host hooks: realms, agents, gc, evalScript, detach)"
    if re.search(r"\bprint\s*\(", src):
        return "calls print"
    neg = md.get("negative")
    if neg and neg.get("phase") not in ("parse", "runtime"):
        return "negative phase " + str(neg.get("phase"))
    return ""


def git(gitdir, *args):
    return subprocess.run(["git", "--git-dir", gitdir, *args], check=True, capture_output=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--git-dir", required=True)
    ap.add_argument("--commit", default="HEAD")
    a = ap.parse_args()
    commit = git(a.git_dir, "rev-parse", a.commit + "^{commit}").decode().strip()
    listing = git(a.git_dir, "ls-tree", "-r", commit, "--", "test/built-ins", "test/language").decode()
    entries = []
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        if path.endswith(".js") and "_FIXTURE" not in path:
            entries.append((path, meta.split()[2]))
    blobs = {}
    cat = subprocess.Popen(["git", "--git-dir", a.git_dir, "cat-file", "--batch"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)

    def read_blob(sha):
        if sha in blobs:
            return blobs[sha]
        cat.stdin.write((sha + "\n").encode())
        cat.stdin.flush()
        size = int(cat.stdout.readline().split()[2])
        data = cat.stdout.read(size)
        cat.stdout.read(1)
        blobs[sha] = data
        return data

    eligible = {}  # path -> (bytes, metadata)
    for path, sha in entries:
        if not (any(path.startswith(r) for r in REQUIRED) or any(path.startswith(p) for p, _ in SAMPLE)):
            continue
        data = read_blob(sha)
        if len(data) > MAX_BYTES:
            continue
        src = data.decode("utf-8")
        md = metadata(src)
        if excluded(md, src):
            continue
        eligible[path] = (data, md)

    chosen = set(p for p in eligible if any(p.startswith(r) for r in REQUIRED))
    for prefix, n in SAMPLE:
        pool = sorted((p for p in eligible if p.startswith(prefix) and p not in chosen),
                      key=lambda p: hashlib.sha1(p.encode()).hexdigest())
        chosen.update(pool[:n])

    for d in ("test", "harness"):
        shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
    harness = set()
    lines = []
    for path in sorted(chosen):
        data, md = eligible[path]
        flags = md.get("flags") or []
        if "onlyStrict" in flags:
            modes = "strict"
        elif "noStrict" in flags:
            modes = "sloppy"
        else:
            modes = "sloppy,strict"
        includes = ["assert.js", "sta.js"]
        if "async" in flags:
            includes.append("doneprintHandle.js")
        includes += [i for i in (md.get("includes") or []) if i not in includes]
        harness.update(includes)
        neg = md.get("negative")
        negative = "%s:%s" % (neg["phase"], neg["type"]) if neg else "-"
        lines.append("\t".join([path, modes, "async" if "async" in flags else "sync", negative, ",".join(includes)]))
        out = os.path.join(HERE, path)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(HERE, "harness"))
    for h in sorted(harness):
        with open(os.path.join(HERE, "harness", h), "wb") as f:
            f.write(git(a.git_dir, "show", "%s:harness/%s" % (commit, h)))
    with open(os.path.join(HERE, "LICENSE"), "wb") as f:
        f.write(git(a.git_dir, "show", commit + ":LICENSE"))
    with open(os.path.join(HERE, "manifest.txt"), "w") as f:
        f.write("# test262 %s, selected by select_tests.py: %d tests\n" % (commit, len(lines)))
        f.write("# path\tmodes\tsync|async\tnegative phase:type or -\tharness files, in load order\n")
        f.write("\n".join(lines) + "\n")
    print("test262 %s: %d tests, %d harness files" % (commit, len(lines), len(harness)))


if __name__ == "__main__":
    sys.exit(main())
