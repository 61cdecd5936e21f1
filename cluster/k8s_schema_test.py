"""`ken cluster render k8s` output against the Kubernetes OpenAPI schemas.

Validates every object of the rendered stream against its definition in
cluster/testdata/k8s/openapi-1.36-definitions.json (the official spec of
Kubernetes 1.36, reduced to what the objects use) with python3-jsonschema,
strictly: an object property the schema does not know is an error (as
kubeconform -strict and kubectl's server-side field validation treat it).
Run with Debian's /usr/bin/python3 (python3-jsonschema, python3-yaml).
"""
import copy
import json
import subprocess
import sys

import jsonschema
import yaml

KEN = "cli/ken"
CONFIG = "cluster/testdata/render/cluster.yaml"
DEFS = "cluster/testdata/k8s/openapi-1.36-definitions.json"


def strict(definitions):
    """Every object schema with properties refuses others; IntOrString is either."""
    defs = copy.deepcopy(definitions)
    for name, schema in defs.items():
        if name.endswith("intstr.IntOrString"):
            defs[name] = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
            continue
        if name.endswith("api.resource.Quantity"):
            defs[name] = {"oneOf": [{"type": "string"}, {"type": "number"}]}
            continue

        def walk(s):
            if isinstance(s, dict):
                if "properties" in s and "additionalProperties" not in s:
                    s["additionalProperties"] = False
                for v in s.values():
                    walk(v)
            elif isinstance(s, list):
                for v in s:
                    walk(v)

        walk(schema)
    return defs


def by_kind(definitions):
    kinds = {}
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            api = gvk["version"] if not gvk["group"] else gvk["group"] + "/" + gvk["version"]
            kinds[(api, gvk["kind"])] = name
    return kinds


def errors(doc, definitions, kinds):
    name = kinds.get((doc.get("apiVersion"), doc.get("kind")))
    if name is None:
        return ["no schema for %s %s" % (doc.get("apiVersion"), doc.get("kind"))]
    schema = {"definitions": definitions, "$ref": "#/definitions/" + name}
    validator = jsonschema.Draft4Validator(schema)
    return ["%s %s: %s at %s" % (doc["kind"], doc["metadata"]["name"], e.message, "/".join(map(str, e.absolute_path)))
            for e in validator.iter_errors(doc)]


def main():
    with open(DEFS) as f:
        definitions = strict(json.load(f)["definitions"])
    kinds = by_kind(definitions)
    stream = subprocess.run([KEN, "cluster", "render", "k8s", CONFIG], check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(stream) if d is not None]
    assert [d["kind"] for d in docs] == ["Secret", "ConfigMap", "Service", "StatefulSet", "StatefulSet", "StatefulSet"], docs
    failed = []
    for doc in docs:
        failed += errors(doc, definitions, kinds)
    if failed:
        print("\n".join(failed))
        return 1
    # The check can fail: a misspelt field, a missing required one, a wrong type.
    sts = docs[3]
    bad = copy.deepcopy(sts)
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    assert errors(bad, definitions, kinds), "an unknown field passed"
    bad = copy.deepcopy(sts)
    del bad["spec"]["template"]["spec"]["containers"][0]["name"]
    assert errors(bad, definitions, kinds), "a container without a name passed"
    bad = copy.deepcopy(sts)
    bad["spec"]["replicas"] = "one"
    assert errors(bad, definitions, kinds), "a string replicas passed"
    print("%d objects valid against the Kubernetes 1.36 schemas" % len(docs))
    return roundtrip(definitions, kinds) or numeric_names(definitions, kinds)


def numeric_names(definitions, kinds):
    """Ids and a token YAML would read as numbers or booleans stay strings."""
    import os
    import tempfile
    folder = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    with open(os.path.join(folder, "a.js"), "w") as f:
        f.write("var x = 1;\n")
    with open(os.path.join(folder, "c.yaml"), "w") as f:
        f.write("token: '12345'\nnodes:\n"
                "  - id: '1'\n    address: 127.0.0.1:1\n    script: a.js\n    http: 127.0.0.1:3\n"
                "  - id: 'yes'\n    address: 127.0.0.1:2\n    script: a.js\n    http: 127.0.0.1:4\n")
    stream = subprocess.run([KEN, "cluster", "render", "k8s", os.path.join(folder, "c.yaml")], check=True,
                            capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(stream) if d is not None]
    failed = []
    for doc in docs:
        failed += errors(doc, definitions, kinds)
    secret = [d for d in docs if d["kind"] == "Secret"][0]
    if secret["stringData"]["token"] != "12345":
        failed.append("the token came back as %r" % (secret["stringData"]["token"],))
    names = [d["metadata"]["name"] for d in docs if d["kind"] == "StatefulSet"]
    if names != ["1", "yes"]:
        failed.append("StatefulSet names came back as %r" % (names,))
    if failed:
        print("\n".join(failed))
        return 1
    print("ids '1' and 'yes' and token '12345' stay strings")
    return 0


# Program files a YAML literal block cannot hold as they are (they go to
# binaryData): every one must come back byte for byte.
AWKWARD = {
    "no-newline.js": b"var a = 1;",
    "blank-lines.js": b"var b = 1;\n\n\n",
    "indented.js": b"  // leading spaces\nvar c;\n",
    "crlf.js": b"var d;\r\nvar e;\r\n",
    "tab-utf8.js": b"var\tt = '\xc3\xa9';\n",
    "control.js": b"x\x01y\n",
    "line-sep.js": b"var i = '\xe2\x80\xa8';\n",
    "bom.js": b"\xef\xbb\xbfvar j;\n",
    "latin1.js": b"var k = '\xff';\n",
    "trailing-space.js": b"var h; \n",
}


def roundtrip(definitions, kinds):
    import base64
    import os
    import tempfile
    folder = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    for name, data in AWKWARD.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    with open(os.path.join(folder, "main.js"), "w") as f:
        f.write("".join("require('./%s');\n" % name for name in sorted(AWKWARD)))
    with open(os.path.join(folder, "c.yaml"), "w") as f:
        f.write("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: main.js\n")
    stream = subprocess.run([KEN, "cluster", "render", "k8s", os.path.join(folder, "c.yaml")], check=True,
                            capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(stream) if d is not None]
    config_map = [d for d in docs if d["kind"] == "ConfigMap"][0]
    failed = errors(config_map, definitions, kinds)
    got = {k: v.encode("utf-8") for k, v in config_map["data"].items()}
    got.update({k: base64.b64decode(v) for k, v in config_map.get("binaryData", {}).items()})
    for name, data in AWKWARD.items():
        keys = [k for k in got if k.endswith("-" + name)]
        if len(keys) != 1 or got[keys[0]] != data:
            failed.append("%s did not come back as it was: %r" % (name, got.get(keys[0]) if keys else None))
    if failed:
        print("\n".join(failed))
        return 1
    print("%d awkward program files came back byte for byte" % len(AWKWARD))
    return 0


if __name__ == "__main__":
    sys.exit(main())
