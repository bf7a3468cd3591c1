"""The per-file half of benches/limits.sh: for each pipeline file given, its jobs (top-level
keys that are no hidden job nor a global keyword), the most `needs` of one of them (through
`extends`), and its bytes, compared with GitLab's limits. Prints one table row per file and
exits 1 when a file is over a limit.

    python3 limits.py MAX_JOBS MAX_YAML_BYTES MAX_NEEDS FILE…

Needs ruamel.yaml (a dependency of check-jsonschema, so its Python has it)."""

import os
import sys

from ruamel.yaml import YAML

GLOBAL_KEYWORDS = {"stages", "workflow", "variables", "default", "include", "spec", "image",
                   "services", "cache", "before_script", "after_script"}


def needs_of(pipeline, name, seen=()):
    """The `needs` of job `name`: its own, or those of the first job it extends that has some."""
    job = pipeline.get(name) or {}
    if "needs" in job:
        return job["needs"] or []
    extends = job.get("extends") or []
    if isinstance(extends, str):
        extends = [extends]
    # GitLab merges `extends` in order, the last one winning.
    for parent in reversed(extends):
        if parent not in seen:
            found = needs_of(pipeline, parent, seen + (name,))
            if found:
                return found
    return []


def main():
    max_jobs, max_bytes, max_needs = (int(a) for a in sys.argv[1:4])
    yaml = YAML(typ="safe", pure=False)
    violations = 0
    print(f"{'file':<44} {'jobs':>6} {'max needs':>9}  {'bytes':>9}  over a limit")
    for path in sys.argv[4:]:
        with open(path) as f:
            pipeline = yaml.load(f)
        jobs = [k for k in pipeline if not str(k).startswith(".") and k not in GLOBAL_KEYWORDS]
        most, most_job = 0, "-"
        for job in jobs:
            count = len(needs_of(pipeline, job))
            if count > most:
                most, most_job = count, job
        size = os.path.getsize(path)
        over = []
        if len(jobs) > max_jobs:
            over.append(f"{len(jobs)} jobs > {max_jobs}")
        if most > max_needs:
            over.append(f"`{most_job}` has {most} needs > {max_needs}")
        if size > max_bytes:
            over.append(f"{size} bytes > {max_bytes}")
        violations += bool(over)
        print(f"{path:<44} {len(jobs):>6} {most:>9}  {size:>9}  {'; '.join(over) or '-'}")
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()
