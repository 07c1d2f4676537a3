#!/usr/bin/env python3
"""Trim a botocore service model to what awsproto.ParseModel needs.

Usage: trim-botocore-model.py SERVICE OP [OP...] > model.json

Keeps the metadata, the named operations, the closure of their input and output
shapes and every error shape, without documentation or validation constraints
(awsproto transcodes shapes; the operations validate their input themselves).
The model is loaded with botocore's own loader (the newest botocore on PATH).
"""
import json
import sys

import botocore.loaders

META = ("apiVersion", "awsQueryCompatible", "endpointPrefix", "jsonVersion", "protocol",
        "protocols", "serviceId", "signingName", "targetPrefix", "xmlNamespace")
SHAPE = ("type", "flattened", "timestampFormat", "union", "exception", "error")
REF = ("shape", "locationName", "queryName", "flattened", "timestampFormat")


def ref(r):
    return {k: r[k] for k in REF if k in r}


def main():
    service, ops = sys.argv[1], sys.argv[2:]
    m = botocore.loaders.Loader().load_service_model(service, "service-2")
    out = {"metadata": {k: m["metadata"][k] for k in META if k in m["metadata"]},
           "operations": {}, "shapes": {}}
    todo = [n for n, s in m["shapes"].items() if s.get("exception")]
    for name in ops:
        op = m["operations"][name]
        o = {"name": name}
        if "input" in op:
            o["input"] = ref(op["input"])
            todo.append(op["input"]["shape"])
        if "output" in op:
            o["output"] = dict(ref(op["output"]), **{k: op["output"][k] for k in ("resultWrapper",) if k in op["output"]})
            todo.append(op["output"]["shape"])
        if op.get("errors"):
            o["errors"] = [ref(e) for e in op["errors"]]
        out["operations"][name] = o
    while todo:
        name = todo.pop()
        if name in out["shapes"]:
            continue
        s = m["shapes"][name]
        t = {k: s[k] for k in SHAPE if k in s}
        if "members" in s:
            t["members"] = {k: ref(v) for k, v in s["members"].items()}
            todo += [v["shape"] for v in s["members"].values()]
        for k in ("member", "key", "value"):
            if k in s:
                t[k] = ref(s[k])
                todo.append(s[k]["shape"])
        out["shapes"][name] = t
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
