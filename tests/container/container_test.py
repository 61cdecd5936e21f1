"""A 3-bank cluster in containers (deploy/Containerfile, podman).

Builds the runtime image from the ken binary built on the host
(deploy/image.sh), then runs examples/bank with three bank nodes and the
driver, each in its own container with its store on its own podman
volume, the config and program mounted read-only, host networking on
127.0.0.1 ports chosen free at run time. While transfers flow it kills a
bank's container (`podman kill`, SIGKILL), removes it and starts a new one
on the same volume (which must restore the store, not start a new one),
then stops the driver and checks, through `ken cluster eval` from
the host: money is conserved, every transfer completed, and each was
debited and credited exactly once. Cleans up its containers and volumes.

Run with Debian's /usr/bin/python3. Needs root or rootless podman
(tools/setup.sh installs podman, runc, mmdebstrap).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.getcwd()
KEN = os.path.join(ROOT, "cli/ken")
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
RUN_OPTS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000", "--network", "host"]
IMAGE = "localhost/ken-test:latest"
BANKS = ["bank-1", "bank-2", "bank-3"]
NODES = BANKS + ["driver"]
TAG = "kentest%d" % os.getpid()


def log(*args):
    print(*args, flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def free_ports(n):
    ports, socks = [], []
    while len(ports) < n:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        socks.append(s)
        if port not in ports:
            ports.append(port)
    for s in socks:
        s.close()
    return ports


def evaluate(config, node, expr, tries=100):
    last = None
    for _ in range(tries):
        r = run([KEN, "cluster", "eval", config, node, expr], check=False)
        if r.returncode == 0:
            return json.loads(r.stdout)
        last = r.stdout + r.stderr
        time.sleep(0.2)
    raise RuntimeError("eval on %s failed: %s" % (node, last))


def container(node):
    return "%s-%s" % (TAG, node)


def start(node, workdir):
    run(PODMAN + ["run", "-d", "--name", container(node)] + RUN_OPTS + [
        "--volume", "%s-%s:/var/lib/ken" % (TAG, node),
        "--volume", "%s:/etc/ken:ro" % workdir,
        "--env", "KEN_NODE_ID=" + node,
        IMAGE])


def main():
    # The libraries ken links are found next to the repository's checkout
    # (image.sh runs ldd on it), so the script runs from the source tree when
    # Bazel's runfiles point there.
    # KEN_IMAGE_FROM_SOURCE=1: build ken inside the image's build stage
    # instead (deploy/image.sh --from-source; slow, so not in CI).
    source = ["--from-source"] if os.environ.get("KEN_IMAGE_FROM_SOURCE") == "1" else ["--ken", KEN]
    built = run(["bash", os.path.join(ROOT, "deploy/image.sh")] + source + ["--tag", IMAGE], check=False)
    if built.returncode != 0:
        log("deploy/image.sh failed:", built.stdout, built.stderr)
        return 1
    log(built.stderr.strip().splitlines()[-1] if built.stderr.strip() else "image built")
    workdir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    os.chmod(workdir, 0o755)
    shutil.copytree(os.path.join(ROOT, "examples/bank"), os.path.join(workdir, "bank"))
    shutil.copytree(os.path.join(ROOT, "examples/common"), os.path.join(workdir, "common"))
    ports = free_ports(len(NODES))
    config = os.path.join(workdir, "cluster.yaml")
    with open(config, "w") as f:
        f.write("token: container-test\nnodes:\n")
        for node, port in zip(NODES, ports):
            script = "bank/driver.js" if node == "driver" else "bank/bank.js"
            # Inside the containers the config is /etc/ken/cluster.yaml and the
            # stores are on the volumes; relative paths resolve against /etc/ken.
            f.write("  - id: %s\n    address: 127.0.0.1:%d\n    script: %s\n    store: /var/lib/ken/%s.ken\n"
                    % (node, port, script, node))
    for root, dirs, files in os.walk(workdir):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    try:
        for node in NODES:
            start(node, workdir)
        issued = evaluate(config, "driver", "issued", tries=300)
        log("cluster up in containers; driver issued", issued)
        deadline = time.time() + 60
        while evaluate(config, "driver", "doneCount") < 50 and time.time() < deadline:
            time.sleep(0.5)
        before = evaluate(config, "driver", "doneCount")
        run(PODMAN + ["kill", container("bank-2")])
        run(PODMAN + ["wait", container("bank-2")], check=False)
        log("killed bank-2's container (SIGKILL) after", before, "transfers")
        first_log = run(PODMAN + ["logs", container("bank-2")], check=False)
        run(PODMAN + ["rm", "-f", container("bank-2")])
        time.sleep(1)
        # A new container on the same volume: the store is all that carries over.
        start("bank-2", workdir)
        deadline = time.time() + 60
        while evaluate(config, "driver", "doneCount") < before + 100 and time.time() < deadline:
            time.sleep(0.5)
        restored = evaluate(config, "bank-2", "Object.keys(debits).length + Object.keys(credits).length")
        second_log = run(PODMAN + ["logs", container("bank-2")], check=False)
        if "new (script" not in first_log.stdout + first_log.stderr or \
                "restored turn" not in second_log.stdout + second_log.stderr:
            log("bank-2 did not start new and then restore from its volume:", first_log.stdout, first_log.stderr,
                second_log.stdout, second_log.stderr)
            return 1
        log("bank-2 restored from its volume in a new container; it holds", restored, "debits and credits")
        limit = evaluate(config, "driver", "limit = issued")
        deadline = time.time() + 120
        while evaluate(config, "driver", "doneCount") < limit and time.time() < deadline:
            time.sleep(0.5)
        driver = evaluate(config, "driver", "({issued, done, doneCount})")
        banks = {b: evaluate(config, b, "({accounts, debits, credits, rejected})") for b in BANKS}
        failures = []
        total = sum(v for b in BANKS for v in banks[b]["accounts"].values())
        if total != len(BANKS) * 10 * 1000:
            failures.append("money not conserved: %d" % total)
        if driver["doneCount"] != driver["issued"]:
            failures.append("%d of %d transfers completed" % (driver["doneCount"], driver["issued"]))
        for i in range(1, driver["issued"] + 1):
            t = "t%d" % i
            debits = sum(t in banks[b]["debits"] for b in BANKS)
            credits = sum(t in banks[b]["credits"] for b in BANKS)
            if driver["done"].get(t) is True and (debits, credits) != (1, 1):
                failures.append("%s debited %d times, credited %d times" % (t, debits, credits))
        if failures:
            log("\n".join(failures[:20]))
            return 1
        log("%d transfers in containers, bank-2 killed and restarted: money conserved, each applied once"
            % driver["issued"])
        return 0
    finally:
        for node in NODES:
            run(PODMAN + ["rm", "-f", container(node)], check=False)
            run(PODMAN + ["volume", "rm", "-f", "%s-%s" % (TAG, node)], check=False)
        run(PODMAN + ["rmi", "-f", IMAGE], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
