"""Request validation against the API specification subsets in tests/specs.

OntapSpec checks a request against ontap-openapi-subset.yaml (Swagger 2.0, basePath /api);
PveSpec checks one against pve-apischema-subset.json. Both answer a list of human-readable
problems (empty = valid). The simulators reject any request with problems (400) and record it,
so the C client can never drift from the documented API unnoticed.

The two classes are independent on purpose: the ONTAP and PVE simulators are written and
maintained separately.

Spec location: $PVE_ONTAP_SPECS, else <repo>/tests/specs (vendored copies of the published
subsets, so a clone of the repository alone passes `make check`; tests/specs/README.md).
"""

import json
import os
import re
import threading
import urllib.parse

_HERE = os.path.dirname(os.path.abspath(__file__))
_load_lock = threading.Lock()
_loaded = {}


def specs_dir():
    env = os.environ.get("PVE_ONTAP_SPECS")
    if env:
        return env
    return os.path.join(os.path.dirname(_HERE), "specs")


def _load(path, loader):
    # The ONTAP spec is ~490 KB of YAML; parse each file once per process.
    path = os.path.abspath(path)
    with _load_lock:
        if path not in _loaded:
            _loaded[path] = loader(path)
        return _loaded[path]


def _load_yaml(path):
    import yaml
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, "rb") as f:
        return yaml.load(f, Loader=loader)


def _load_json(path):
    with open(path, "rb") as f:
        return json.load(f)


def _template_regex(template):
    # "{volume.uuid}" style parameters are one path segment; encoded slashes (%2F) stay inside it.
    out, names = "", []
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1])
            out += "([^/]+)"
        else:
            out += re.escape(part)
    return re.compile("^" + out + "$"), names


class OntapSpec:
    """ONTAP REST API subset (Swagger 2.0)."""

    GLOBAL_QUERY = frozenset(["fields", "max_records", "return_timeout", "return_records", "order_by"])

    def __init__(self, path=None):
        self.path = path or os.path.join(specs_dir(), "ontap-openapi-subset.yaml")
        self.doc = _load(self.path, _load_yaml)
        self.base = self.doc.get("basePath", "/api").rstrip("/")
        self.defs = self.doc.get("definitions", {})
        # Literal templates before parameterised ones, so /storage/file/clone never loses to a
        # template with a parameter in the same position.
        tpls = []
        for tpl in self.doc.get("paths", {}):
            rx, names = _template_regex(tpl)
            tpls.append((len(names), tpl, rx, names))
        tpls.sort(key=lambda t: (t[0], t[1]))
        self._templates = [(tpl, rx, names) for _, tpl, rx, names in tpls]
        self._expensive = {}

    # -- lookup ------------------------------------------------------------------------------

    def match(self, path):
        """('/storage/volumes/{uuid}', {'uuid': '...'}) for a request path, or None."""
        path = path.split("?", 1)[0]
        if not path.startswith(self.base + "/"):
            return None
        rel = path[len(self.base):]
        if len(rel) > 1:
            rel = rel.rstrip("/")   # ONTAP's own Location headers end in "/"
        for tpl, rx, names in self._templates:
            m = rx.match(rel)
            if m:
                return tpl, dict(zip(names, (urllib.parse.unquote(g) for g in m.groups())))
        return None

    def operation(self, method, template):
        return self.doc["paths"].get(template, {}).get(method.lower())

    def expensive_fields(self, template, method="get"):
        """Expensive properties listed in the operation description ("### Expensive properties")."""
        key = (template, method)
        if key not in self._expensive:
            op = self.operation(method, template) or {}
            desc = op.get("description") or ""
            found = []
            if "Expensive properties" in desc:
                section = desc.split("Expensive properties", 1)[1].split("###", 1)[0]
                for line in section.splitlines():
                    m = re.match(r"\s*\*\s*`([^`]+)`", line)
                    if m and m.group(1) != "fields":
                        found.append(m.group(1))
            self._expensive[key] = found
        return self._expensive[key]

    def resolve(self, schema):
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 50:
            ref = schema["$ref"]
            if not ref.startswith("#/definitions/"):
                return {}
            schema = self.defs.get(ref[len("#/definitions/"):], {})
            seen += 1
        if isinstance(schema, dict) and "allOf" in schema:
            merged = {"type": "object", "properties": {}}
            for part in schema["allOf"]:
                part = self.resolve(part)
                merged["properties"].update(part.get("properties", {}))
                if part.get("additionalProperties"):
                    merged["additionalProperties"] = part["additionalProperties"]
            merged["properties"].update(schema.get("properties", {}))
            return merged
        return schema if isinstance(schema, dict) else {}

    # -- validation --------------------------------------------------------------------------

    def validate(self, method, path, query=None, body=None):
        query = query or {}
        m = self.match(path)
        if m is None:
            return ["path '%s' matches no template under %s" % (path.split("?", 1)[0], self.base)]
        tpl, _ = m
        op = self.operation(method, tpl)
        if op is None:
            return ["method %s is not defined for %s" % (method.upper(), tpl)]
        errors = []
        declared = set()
        body_schema = None
        for p in op.get("parameters", []):
            if p.get("in") == "query":
                declared.add(p["name"])
            elif p.get("in") == "body":
                body_schema = p.get("schema", {})
        filters = set(op.get("x-filter-query-params") or [])
        for key in query:
            if key in declared or key in filters or key in self.GLOBAL_QUERY:
                continue
            # start.* keys only ever come from the server's own _links.next.href.
            if method.upper() == "GET" and key.startswith("start."):
                continue
            errors.append("query parameter '%s' is not declared for %s %s" % (key, method.upper(), tpl))
        if body is not None and body != {} and body != "":
            if body_schema is None:
                errors.append("%s %s takes no request body" % (method.upper(), tpl))
            elif not isinstance(body, dict):
                errors.append("%s %s: the request body must be a JSON object" % (method.upper(), tpl))
            else:
                self._check_body(body_schema, body, "", errors)
        return errors

    def _check_body(self, schema, value, where, errors):
        """value is an object; where is the dotted prefix of its keys ("" or "a.b.")."""
        schema = self.resolve(schema)
        stype = schema.get("type")
        if stype not in (None, "object"):
            errors.append("body field '%s' must be %s, not an object" % (where.rstrip(".") or "(body)", stype))
            return
        props = schema.get("properties")
        if props is None:
            return  # a free-form object: the spec is open here
        addl = schema.get("additionalProperties")
        for key, sub in value.items():
            if key in props:
                self._check_prop(props[key], sub, where + key, errors)
                continue
            head, dot, rest = key.partition(".")
            if dot and head in props:
                # Dotted form of a nested key: {"a.b": v} is {"a": {"b": v}}.
                self._check_prop(props[head], {rest: sub}, where + head, errors)
                continue
            if addl:
                if isinstance(addl, dict):
                    self._check_prop(addl, sub, where + key, errors)
                continue
            errors.append("body field '%s' is not a property of the model" % (where + key))

    def _check_prop(self, schema, value, name, errors):
        schema = self.resolve(schema)
        stype = schema.get("type")
        if schema.get("readOnly") and not isinstance(value, dict):
            errors.append("body field '%s' is read-only" % name)
            return
        if isinstance(value, dict):
            self._check_body(schema, value, name + ".", errors)
        elif isinstance(value, list):
            if stype not in (None, "array"):
                errors.append("body field '%s' must be %s, not an array" % (name, stype))
                return
            items = schema.get("items")
            if items is not None:
                for elem in value:
                    self._check_prop(items, elem, name + "[]", errors)
        elif stype in ("object", "array") and value is not None:
            errors.append("body field '%s' must be %s" % (name, "an object" if stype == "object" else "an array"))


class PveSpec:
    """Proxmox VE API schema subset (pve-apischema-subset.json), per version key (pve9, pve8)."""

    def __init__(self, path=None, version="pve9"):
        self.path = path or os.path.join(specs_dir(), "pve-apischema-subset.json")
        self.doc = _load(self.path, _load_json)
        self.version = version
        self._templates = []
        for tpl in self.doc.get(version, {}):
            rx, names = _template_regex(tpl)
            self._templates.append((len(names), tpl, rx, names))
        self._templates.sort(key=lambda t: (t[0], t[1]))

    def match(self, path):
        path = path.split("?", 1)[0]
        if path.startswith("/api2/json"):
            path = path[len("/api2/json"):]
        if len(path) > 1:
            path = path.rstrip("/")
        for _, tpl, rx, names in self._templates:
            m = rx.match(path)
            if m:
                return tpl, dict(zip(names, (urllib.parse.unquote(g) for g in m.groups())))
        return None

    def validate(self, method, path, params=None):
        """params: the query (GET/DELETE) or form/JSON body parameters, as a dict."""
        m = self.match(path)
        if m is None:
            return ["path '%s' matches no PVE API path" % path.split("?", 1)[0]]
        tpl, _ = m
        op = self.doc[self.version][tpl].get(method.upper())
        if op is None:
            return ["method %s is not defined for %s" % (method.upper(), tpl)]
        pdef = op.get("parameters") or {}
        if pdef.get("additionalProperties"):
            return []
        known = set(pdef.get("properties", {})) | set(pdef.get("_all_property_names", []))
        numbered = [re.compile("^" + re.escape(k[:-3]) + r"\d+$") for k in known if k.endswith("[n]")]
        errors = []
        for key in (params or {}):
            if key in known or any(rx.match(key) for rx in numbered):
                continue
            errors.append("parameter '%s' is not declared for %s %s" % (key, method.upper(), tpl))
        return errors
