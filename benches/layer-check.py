#!/usr/bin/env python3
"""Helper of benches/layer-check.sh (python3 standard library only).

Subcommands:
  gen DIR HOST NIMAGES NBASES SHAPE REGISTRY_AUTH
                                write a hand-made OCI layout (DIR/layout), the push list
                                (DIR/push-1.txt, DIR/push-2.txt), gipgee.yaml, images.json
                                and the expected verdicts (DIR/expected.json); SHAPE is
                                `mixed`, `simple`, `chains` or `chains2` (see gen),
                                REGISTRY_AUTH text added to
                                the registry's entry in gipgee.yaml
  skopeo-loop IMAGES OUT        the first gipgee's layer check: per image, `skopeo inspect
                                --raw` of the base and of every target location (and of each
                                platform manifest of an index), layer-prefix rule; verdicts
                                to OUT
  requests LOG OFFSET           count the registry's access-log lines from byte OFFSET on,
                                as JSON (total, by method, by kind, by user agent)
  verdicts EXPECTED GIPGEE SKOPEO   compare gipgee's results.json and the loop's verdicts
                                with the expected ones; exit 1 (listing every difference)
                                if they disagree
  table NIMAGES GIPGEE_MS GIPGEE_REQ SKOPEO_MS SKOPEO_REQ   print the result table
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
BASE_DIGEST = "org.opencontainers.image.base.digest"
BASE_NAME = "org.opencontainers.image.base.name"
REF_NAME = "org.opencontainers.image.ref.name"
DEFAULT_PLATFORM = ("linux", "amd64")


def die(msg):
    print(f"layer-check bench: {msg}", file=sys.stderr)
    sys.exit(1)


# --- gen ---------------------------------------------------------------------------------


class Layout:
    """A hand-written OCI image layout; every blob is written once."""

    def __init__(self, path):
        self.path = path
        self.refs = []
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def blob(self, data, media_type):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        target = os.path.join(self.path, "blobs", "sha256", digest[7:])
        if not os.path.exists(target):
            with open(target, "wb") as f:
                f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def json_blob(self, value, media_type):
        return self.blob(json.dumps(value, separators=(",", ":")).encode(), media_type)

    def layer(self, files):
        """A reproducible tar+gzip layer of `files` ({path: text}); returns (descriptor, diff_id)."""
        with tempfile.TemporaryDirectory(dir=os.path.dirname(self.path)) as root:
            for rel, text in files.items():
                full = os.path.join(root, rel)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "w") as f:
                    f.write(text)
            tar = subprocess.run(
                ["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
                 "--numeric-owner", "-C", root, "-cf", "-", "."],
                check=True, stdout=subprocess.PIPE).stdout
        gz = subprocess.run(["gzip", "-n", "-6"], input=tar, check=True,
                            stdout=subprocess.PIPE).stdout
        return self.blob(gz, OCI_LAYER), "sha256:" + hashlib.sha256(tar).hexdigest()

    def image(self, platform, layers, annotations=None):
        """An image manifest of (descriptor, diff_id) layers; returns its descriptor."""
        os_, arch = platform
        config = self.json_blob({
            "architecture": arch, "os": os_,
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
        }, OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
                    "layers": [desc for desc, _ in layers]}
        if annotations:
            manifest["annotations"] = annotations
        return self.json_blob(manifest, OCI_MANIFEST)

    def index(self, entries):
        """An image index of (platform, manifest descriptor) entries."""
        manifests = [dict(desc, platform={"os": p[0], "architecture": p[1]}) for p, desc in entries]
        return self.json_blob({"schemaVersion": 2, "mediaType": OCI_INDEX,
                               "manifests": manifests}, OCI_INDEX)

    def tag(self, name, desc):
        self.refs.append(dict(desc, annotations={REF_NAME: name}))

    def finish(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f, indent=1)


def gen(out, host, nimages, nbases, shape="mixed", registry_auth=""):
    """20 bases (1 layer each; the last quarter are two-platform indexes), NIMAGES released
    images on them (base layers + 1 own layer, same platforms as the base). Two bases get a
    changed version pushed to the same tag after the first half of their images was built:
    that half is stale, the other half was built on the new version (up to date). Every other
    image carries buildah's base-digest annotation; every tenth has a second target location
    with the same digest.

    SHAPE `simple`: every base and image single-platform, one target location each (the
    rest as above). `chains`: like `simple`, but in chains of 10 where each image is built on
    the previous one's target (the first of each chain on a base, the bases' order as
    above), the layout of benches/generate.sh; `chains2`: `chains` with a second target
    location per image (same digest). REGISTRY_AUTH is added to the registry's entry in
    gipgee.yaml (e.g. the credential variables)."""
    if shape not in ("mixed", "simple", "chains", "chains2"):
        die(f"unknown shape {shape}")
    layout = Layout(os.path.join(out, "layout"))
    chained = shape.startswith("chains")
    multi_from = nbases if shape != "mixed" else nbases - max(1, nbases // 4)
    changed = {3 % nbases, (multi_from + 2) % nbases}
    push1, push2 = [], []
    bases = {}  # (b, version) -> {"desc", "platforms": {platform: (manifest desc, [layers])}}

    def platforms_of(b):
        return [("linux", "amd64"), ("linux", "arm64")] if b >= multi_from else [DEFAULT_PLATFORM]

    for b in range(nbases):
        for version in ([1, 2] if b in changed else [1]):
            plats = {}
            for p in platforms_of(b):
                layer = layout.layer({
                    "etc/base-release": f"base b{b:02d} version {version} {p[0]}/{p[1]}\n",
                    "etc/os-release": f"ID=bench\nVERSION_ID={version}\n",
                })
                plats[p] = (layout.image(p, [layer]), [layer])
            if len(plats) == 1:
                desc = next(iter(plats.values()))[0]
            else:
                desc = layout.index([(p, m) for p, (m, _) in plats.items()])
            bases[(b, version)] = {"desc": desc, "platforms": plats}
            name = f"b{b:02d}-v{version}"
            layout.tag(name, desc)
            (push2 if version == 2 else push1).append((name, f"{host}/base/b{b:02d}:1"))

    images, expected = {}, {}
    previous = None  # chains: (manifest descriptor, layers, first target) of the last image
    seconds = []  # second target locations, pushed after every first one
    for i in range(nimages):
        iid = f"img{i:03d}"
        if chained and i % 10:
            # Built on the previous image of its chain, as released: never stale.
            prev_desc, prev_layers, base_ref = previous
            base = {"platforms": {DEFAULT_PLATFORM: (prev_desc, prev_layers)}}
            label, stale = f"img{i - 1:03d}", False
        else:
            b = (i // 10) % nbases if chained else i % nbases
            version = 2 if b in changed and i >= nimages // 2 else 1
            base = bases[(b, version)]
            base_ref = f"{host}/base/b{b:02d}:1"
            label, stale = f"b{b:02d} v{version}", b in changed and version == 1
        entries = []
        for p, (base_manifest, base_layers) in base["platforms"].items():
            own = layout.layer({f"app/{iid}/release": f"{iid} on {label} {p[0]}/{p[1]}\n"})
            annotations = None
            if i % 2 == 0:
                annotations = {BASE_NAME: base_ref, BASE_DIGEST: base_manifest["digest"]}
            manifest = layout.image(p, base_layers + [own], annotations)
            entries.append((p, manifest))
            previous = (manifest, base_layers + [own], None)
        desc = entries[0][1] if len(entries) == 1 else layout.index(entries)
        layout.tag(iid, desc)
        if shape == "chains2":
            second = True
        else:
            second = i % 10 == 5 and shape == "mixed"
        targets = [f"{host}/app/{iid}:1"] + ([f"{host}/app/{iid}:latest"] if second else [])
        previous = (previous[0], previous[1], targets[0])
        push1.append((iid, targets[0]))
        seconds.extend((iid, t) for t in targets[1:])
        images[iid] = {"base": base_ref, "targets": targets}
        expected[iid] = "stale" if stale else "up-to-date"
    layout.finish()
    # Two pushes to one repository at once can fail on distribution's filesystem storage.
    push1.extend(seconds)

    for path, pushes in (("push-1.txt", push1), ("push-2.txt", push2)):
        with open(os.path.join(out, path), "w") as f:
            f.writelines(f"{src} {dest}\n" for src, dest in pushes)
    with open(os.path.join(out, "images.json"), "w") as f:
        json.dump(images, f, indent=1)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    with open(os.path.join(out, "gipgee.yaml"), "w") as f:
        f.write(f"version: 1\nregistries:\n  {host}: {{insecure: true{registry_auth}}}\n")
        f.write(f"defaults: {{staging: {host}/staging}}\nimages:\n")
        for iid, image in images.items():
            f.write(f"  {iid}: {{baseImage: {image['base']}, targetLocations: [{', '.join(image['targets'])}]}}\n")
    stale = sum(1 for v in expected.values() if v == "stale")
    print(f"{nimages} images ({shape}) on {nbases} bases ({nbases - multi_from} two-platform), "
          f"{stale} stale (bases {', '.join(f'b{b:02d}' for b in sorted(changed))} changed), "
          f"{len(push1) + len(push2)} pushes, "
          f"{len(os.listdir(os.path.join(layout.path, 'blobs', 'sha256')))} blobs")


# --- skopeo-loop -------------------------------------------------------------------------


def inspect_raw(ref):
    creds = os.environ.get("BENCH_SKOPEO_CREDS")
    run = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false"]
                         + (["--creds", creds] if creds else []) + [f"docker://{ref}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if run.returncode != 0:
        raise RuntimeError(f"skopeo inspect --raw {ref}: {run.stderr.decode().strip()}")
    return json.loads(run.stdout)


def platform_images(ref):
    """[(platform or None, layer digests)] of `ref`: one per index entry, or the image itself."""
    manifest = inspect_raw(ref)
    if manifest.get("mediaType") in (OCI_INDEX, DOCKER_LIST) or "manifests" in manifest:
        repo = ref.rsplit("@", 1)[0]
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        result = []
        for entry in manifest["manifests"]:
            p = entry.get("platform", {})
            platform = (p.get("os"), p.get("architecture"))
            if platform == ("unknown", "unknown"):
                continue  # attestation
            image = inspect_raw(f"{repo}@{entry['digest']}")
            result.append((platform, [layer["digest"] for layer in image["layers"]]))
        return result
    return [(None, [layer["digest"] for layer in manifest["layers"]])]


def check_with_skopeo(image):
    base = platform_images(image["base"])
    stale = False
    for target in image["targets"]:
        for platform, layers in platform_images(target):
            if len(base) == 1:
                base_layers = base[0][1]
            else:
                wanted = platform or DEFAULT_PLATFORM
                match = [layers_ for p, layers_ in base if p == wanted]
                if not match:
                    raise RuntimeError(f"{image['base']} has no manifest for {wanted}")
                base_layers = match[0]
            if layers[:len(base_layers)] != base_layers:
                stale = True
    return "stale" if stale else "up-to-date"


def skopeo_loop(images_path, out):
    with open(images_path) as f:
        images = json.load(f)
    verdicts = {}
    for iid, image in images.items():
        try:
            verdicts[iid] = check_with_skopeo(image)
        except (RuntimeError, KeyError, ValueError) as err:
            print(f"ERROR {iid}: {err}", file=sys.stderr)
            verdicts[iid] = "error"
    with open(out, "w") as f:
        json.dump(verdicts, f, indent=1)


# --- requests ----------------------------------------------------------------------------

LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) \S+ "[^"]*" "([^"]*)"')


def requests(log, offset):
    with open(log, "rb") as f:
        f.seek(int(offset))
        lines = f.read().decode(errors="replace").splitlines()
    counts = {"total": 0, "method": {}, "kind": {}, "agent": {}, "status": {}, "unparsed": 0}
    for line in lines:
        m = LINE.match(line)
        if not m:
            counts["unparsed"] += 1
            continue
        method, path, status, agent = m.groups()
        if path.rstrip("/") == "/v2":
            kind = "ping /v2/"
        elif "/manifests/sha256:" in path:
            kind = "manifest by digest"
        elif "/manifests/" in path:
            kind = "manifest by tag"
        elif "/blobs/" in path:
            kind = "blob"
        else:
            kind = "other"
        counts["total"] += 1
        for key, value in (("method", method), ("kind", f"{method} {kind}"),
                           ("agent", agent.split("/")[0]), ("status", status)):
            counts[key][value] = counts[key].get(value, 0) + 1
    print(json.dumps(counts, sort_keys=True))


# --- verdicts ----------------------------------------------------------------------------


def verdicts(expected_path, gipgee_path, skopeo_path):
    with open(expected_path) as f:
        expected = json.load(f)
    with open(gipgee_path) as f:
        gipgee = {k: v.get("status") for k, v in json.load(f)["images"].items()}
    with open(skopeo_path) as f:
        skopeo = json.load(f)
    problems = []
    for iid in sorted(set(expected) | set(gipgee) | set(skopeo)):
        e, g, s = expected.get(iid), gipgee.get(iid), skopeo.get(iid)
        if g != s:
            problems.append(f"{iid}: gipgee says {g}, the skopeo loop says {s} (expected {e})")
        elif g != e:
            problems.append(f"{iid}: both say {g}, expected {e}")
    if problems:
        print("VERDICTS DISAGREE:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        sys.exit(1)
    tally = {}
    for v in gipgee.values():
        tally[v] = tally.get(v, 0) + 1
    print("verdicts agree (gipgee = skopeo loop = expected): "
          + ", ".join(f"{n} {v}" for v, n in sorted(tally.items())))


# --- table -------------------------------------------------------------------------------


def table(nimages, g_ms, g_req, s_ms, s_req):
    n, g_ms, g_req, s_ms, s_req = map(int, (nimages, g_ms, g_req, s_ms, s_req))
    print(f"| tool | wall time | HTTP requests | requests per image |")
    print(f"|---|---|---|---|")
    print(f"| `gipgee layer-check` | {g_ms / 1000:.2f} s | {g_req} | {g_req / n:.2f} |")
    if not s_ms:
        return  # the loop was not run
    print(f"| skopeo-per-image loop | {s_ms / 1000:.2f} s | {s_req} | {s_req / n:.2f} |")
    print(f"| gipgee / skopeo | {g_ms / s_ms:.3f} ({s_ms / g_ms:.0f}× faster) "
          f"| {g_req / s_req:.2f} ({s_req / g_req:.1f}× fewer) | |")


def main():
    commands = {"gen": (gen, 6), "skopeo-loop": (skopeo_loop, 2), "requests": (requests, 2),
                "verdicts": (verdicts, 3), "table": (table, 5)}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        die(f"usage: {sys.argv[0]} {'|'.join(commands)} ARGS…")
    fn, nargs = commands[sys.argv[1]]
    args = sys.argv[2:]
    if len(args) != nargs:
        die(f"{sys.argv[1]} takes {nargs} arguments, got {len(args)}")
    if fn is gen:
        args = [args[0], args[1], int(args[2]), int(args[3]), args[4], args[5]]
    fn(*args)


if __name__ == "__main__":
    main()
