"""Validation of Proxmox VE API requests against tests/specs/pve-apischema-subset.json.

The file holds, per version ("pve9", "pve8"), a map path template -> method -> schema object
copied from PVE's API viewer data (apidata.js).  A request is valid when its path matches a
template, the method exists there, every parameter (query, form or JSON body, and the path
placeholders) is declared -- in `parameters.properties`, in `_all_property_names` (large maps
were trimmed and keep only the key list), or as a numbered key (`scsi3` for `scsi[n]`) -- every
non-optional parameter is present, and the declared simple constraints hold (type, enum,
min/max, maxLength, pattern).  The checks mirror pve-common's JSONSchema so that a request this
module accepts would also pass "Parameter verification failed." on a real node.

    validate(method, path, params, version="pve9") -> list of error strings ([] = valid)
    check(method, path, params, version) -> (status, errors_by_param) for the simulator

Spec directory: $PVE_ONTAP_SPECS, else <repo>/tests/specs (vendored).
"""

import json
import os
import re
import threading
import urllib.parse

SPEC_FILE = "pve-apischema-subset.json"
_lock = threading.Lock()
_cache = {}


def spec_dir():
    env = os.environ.get("PVE_ONTAP_SPECS")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")


def load(version="pve9"):
    """The version's path map (cached; the file is read once per process)."""
    with _lock:
        if "doc" not in _cache:
            with open(os.path.join(spec_dir(), SPEC_FILE), encoding="utf-8") as f:
                _cache["doc"] = json.load(f)
        doc = _cache["doc"]
    if version not in doc:
        raise KeyError("unknown PVE schema version %r (have %s)"
                       % (version, ", ".join(k for k in doc if not k.startswith("_"))))
    return doc[version]


def split_path(path):
    """'/api2/json/nodes/pve1/...?' or '/nodes/pve1/...' -> list of unquoted segments.
    Splitting happens before unquoting so a percent-encoded '/' stays inside its segment
    (volume ids and UPIDs are sent percent-encoded)."""
    path = path.split("?", 1)[0]
    if path.startswith("/api2/json/") or path == "/api2/json":
        path = path[len("/api2/json"):]
    segs = [s for s in path.split("/") if s != ""]
    return [urllib.parse.unquote(s) for s in segs]


def match_path(path, version="pve9"):
    """-> (template, {placeholder: value}) or (None, None)."""
    segs = split_path(path)
    best = None
    for tmpl in load(version):
        tsegs = [s for s in tmpl.split("/") if s]
        vals = {}
        ok = True
        if len(tsegs) != len(segs):
            # A trailing {volume} may swallow unencoded '/' (a client that did not encode
            # the volid); PVE's router would not match that, so only accept it when every
            # other segment matches and record it as the volume.
            if not (tsegs and tsegs[-1] == "{volume}" and len(segs) > len(tsegs)):
                continue
            segs_ = segs[:len(tsegs) - 1] + ["/".join(segs[len(tsegs) - 1:])]
        else:
            segs_ = segs
        literal = 0
        for t, s in zip(tsegs, segs_):
            if t.startswith("{") and t.endswith("}"):
                vals[t[1:-1]] = s
            elif t == s:
                literal += 1
            else:
                ok = False
                break
        if ok and (best is None or literal > best[2]):
            best = (tmpl, vals, literal)
    if best is None:
        return None, None
    return best[0], best[1]


# ------------------------------------------------------------------------------------------
# Parameter checks (pve-common PVE/JSONSchema.pm check_type / check_prop)
# ------------------------------------------------------------------------------------------

_NUMBERED_RE = re.compile(r"^([a-z][a-z_\-]*?)(\d+)$")
_BOOL_TRUE = re.compile(r"^(1|true|yes|on)$", re.I)
_BOOL_FALSE = re.compile(r"^(0|false|no|off)$", re.I)

# String formats we can check cheaply; everything else is accepted as any string.
_FORMATS = {
    "pve-vmid": re.compile(r"^\d+$"),
    "pve-node": re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$"),
    "pve-storage-id": re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.I),
    "pve-configid-list": re.compile(r"^[a-z][a-z_\-]*\d*([,;\s]+[a-z][a-z_\-]*\d*)*$", re.I),
    "pve-storage-content": re.compile(
        r"^(images|rootdir|vztmpl|iso|backup|snippets|import|none)$"),
    "pve-storage-content-list": re.compile(
        r"^(images|rootdir|vztmpl|iso|backup|snippets|import|none)"
        r"([,;\s]+(images|rootdir|vztmpl|iso|backup|snippets|import|none))*$"),
    "pve-storage-path": re.compile(r"^/\S*$"),
}


def _schema_params(op):
    p = op.get("parameters") or {}
    props = p.get("properties") or {}
    names = set(props) | set(p.get("_all_property_names") or [])
    return p, props, names


def _lookup(name, props, names):
    """-> (declared name, schema or None) or (None, None) when undeclared."""
    if name in names:
        return name, props.get(name)
    m = _NUMBERED_RE.match(name)
    if m:
        cand = m.group(1) + "[n]"
        if cand in names:
            return cand, props.get(cand)
    return None, None


def _check_value(name, value, schema):
    """One parameter against its schema; returns an error text in PVE's words or None."""
    if schema is None:
        return None
    typ = schema.get("type", "string")
    if isinstance(value, (list, dict)):
        if typ in ("array", "object"):
            return None
        return "type check ('%s') failed - got %s" % (typ, "ARRAY" if isinstance(
            value, list) else "HASH")
    if isinstance(value, bool):
        sval = "1" if value else "0"
    elif value is None:
        return "type check ('%s') failed - got undef" % typ if typ != "null" else None
    else:
        sval = str(value)
    if typ == "boolean":
        if not (_BOOL_TRUE.match(sval) or _BOOL_FALSE.match(sval)):
            return "type check ('boolean') failed - got '%s'" % sval
        return None
    if typ == "integer":
        if not re.fullmatch(r"[+-]?\d+", sval):
            return "type check ('integer') failed - got '%s'" % sval
        num = int(sval)
    elif typ == "number":
        try:
            num = float(sval)
        except ValueError:
            return "type check ('number') failed - got '%s'" % sval
    else:
        num = None
    if num is not None:
        if "minimum" in schema and num < float(schema["minimum"]):
            return "value must have a minimum value of %s" % schema["minimum"]
        if "maximum" in schema and num > float(schema["maximum"]):
            return "value must have a maximum value of %s" % schema["maximum"]
        return None
    if "enum" in schema and sval not in schema["enum"]:
        return "value '%s' does not have a value in the enumeration '%s'" % (
            sval, ", ".join(schema["enum"]))
    if "maxLength" in schema and len(sval) > int(schema["maxLength"]):
        return "value may only be %s characters long" % schema["maxLength"]
    if "minLength" in schema and len(sval) < int(schema["minLength"]):
        return "value must be at least %s characters long" % schema["minLength"]
    if "pattern" in schema:
        try:
            if not re.fullmatch(schema["pattern"], sval):
                return "value does not match the regex pattern"
        except re.error:
            pass  # a Perl-only construct; do not fail the request on our own limitation
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS and not _FORMATS[fmt].match(sval):
        if fmt == "pve-vmid":
            return "invalid format - value does not look like a valid VM ID"
        if fmt == "pve-storage-id":
            return "invalid format - storage ID '%s' contains illegal characters" % sval
        return "invalid format - value does not match format %s" % fmt
    if isinstance(fmt, dict):
        return _check_property_string(sval, fmt)
    return None


def _check_property_string(sval, fmt):
    """Property strings ('file,k=v,...'): every key must be a declared sub-key; the first
    element may be the default key's value."""
    default_key = next((k for k, v in fmt.items() if isinstance(v, dict) and
                        v.get("default_key")), None)
    for i, part in enumerate(sval.split(",")):
        if "=" in part:
            k = part.split("=", 1)[0]
            if k not in fmt and not any(isinstance(v, dict) and v.get("alias") == k
                                        for v in fmt.values()):
                return "invalid format - format error\n%s: property is not defined in schema" \
                    % k
        elif i == 0 and default_key:
            continue
        elif part == "":
            continue
        else:
            return "invalid format - format error\n%s: value without key, but schema does " \
                "not define a default key" % part
    return None


def check(method, path, params, version="pve9"):
    """-> (status, errors): status 200 when valid, 501 for an unknown path/method (errors
    holds one '_' entry), 400 with a map param -> message otherwise."""
    method = method.upper()
    tmpl, vals = match_path(path, version)
    if tmpl is None:
        return 501, {"_": "Method '%s %s' not implemented" % (method, path.split("?")[0])}
    ops = load(version)[tmpl]
    op = ops.get(method)
    if op is None:
        return 501, {"_": "Method '%s %s' not implemented" % (method, path.split("?")[0])}
    p, props, names = _schema_params(op)
    errors = {}
    merged = dict(params or {})
    for k, v in vals.items():
        if k in merged and str(merged[k]) != v:
            errors[k] = "parameter conflicts with the value in the path"
        merged[k] = v
    additional = p.get("additionalProperties")
    for name, value in merged.items():
        decl, schema = _lookup(name, props, names)
        if decl is None:
            if not additional:
                errors[name] = "property is not defined in schema and the schema does not " \
                               "allow additional properties"
            continue
        err = _check_value(name, value, schema)
        if err:
            errors[name] = err
    for name, schema in props.items():
        if "[n]" in name or not isinstance(schema, dict):
            continue
        if not schema.get("optional") and name not in merged:
            errors[name] = "property is missing and it is not optional"
        req = schema.get("requires")
        if name in merged and isinstance(req, str) and req not in merged:
            errors[name] = "missing property - '%s' requires this property" % req
    return (400 if errors else 200), errors


def validate(method, path, params=None, version="pve9"):
    """List of violations ([] when the request is declared by the schema)."""
    status, errors = check(method, path, params or {}, version)
    if status == 200:
        return []
    if status == 501:
        return [errors["_"]]
    return ["%s %s: parameter '%s': %s" % (method.upper(), path.split("?")[0], k,
                                           v.rstrip("\n")) for k, v in sorted(errors.items())]


def operation(method, path, version="pve9"):
    """The schema object for a request (or None); the simulator reads `returns` from it."""
    tmpl, _ = match_path(path, version)
    if tmpl is None:
        return None
    return load(version)[tmpl].get(method.upper())
