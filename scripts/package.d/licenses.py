"""Prints the part of the package's copyright file about the Swift packages linked into ticketd.

Usage: python3 scripts/package.d/licenses.py SCRATCH_PATH

It reads which modules the linker was given for the `ticketd` product (Objects.LinkFileList),
finds the checkout each module was compiled from, and prints, for each such package, its
version, where it comes from, its copyright lines and licence; an Apache-2.0 package's NOTICE
file is reproduced whole (section 4(d) of that licence), an MIT one's licence text whole.
Exits 1 if a linked module comes from no known checkout, so the list never silently misses one.
"""

import glob
import json
import os
import re
import sys


def linked_module_dirs(scratch):
    lists = glob.glob(os.path.join(scratch, "**", "release", "ticketd.product", "Objects.LinkFileList"), recursive=True)
    if not lists:
        sys.exit(f"licenses: no Objects.LinkFileList for ticketd under {scratch}")
    dirs = set()
    with open(lists[0]) as f:
        for line in f:
            line = line.strip().strip("'\"")
            if line.endswith(".o"):
                dirs.add(os.path.dirname(line))
    return dirs


def checkout_of(module_dir):
    """The checkout a module was compiled from, by its source paths: the `sources` list of a Swift
    module, or the first prerequisite (the source file) of each `.d` file of a C module."""
    paths = []
    sources = os.path.join(module_dir, "sources")
    if os.path.exists(sources):
        paths = open(sources, errors="replace").read().split()
    else:
        for dep in glob.glob(os.path.join(module_dir, "**", "*.d"), recursive=True):
            text = open(dep, errors="replace").read().replace("\\\n", " ")
            _, _, rest = text.partition(":")
            if rest.split():
                paths.append(rest.split()[0])
    found = set()
    for path in paths:
        found.update(re.findall(r"/checkouts/([^/\s]+)/", path))
    if len(found) > 1:
        sys.exit(f"licenses: {module_dir} was compiled from several checkouts: {sorted(found)}")
    return found.pop() if found else None


def licence_of(checkout):
    for name in ("LICENSE.txt", "LICENSE", "LICENSE.md"):
        path = os.path.join(checkout, name)
        if os.path.exists(path):
            text = open(path, errors="replace").read()
            if "Apache License" in text and "Version 2.0" in text:
                return "Apache-2.0", text
            if "Permission is hereby granted, free of charge" in text:
                return "MIT", text
            return "other", text
    sys.exit(f"licenses: no licence file in {checkout}")


def main():
    scratch = sys.argv[1]
    state = json.load(open(os.path.join(scratch, "workspace-state.json")))
    packages = {}
    for dep in state["object"]["dependencies"]:
        checkout = dep["state"].get("checkoutState", {})
        packages[dep["subpath"]] = (dep["packageRef"]["location"], checkout.get("version") or checkout.get("revision", "?"))

    used = set()
    for module_dir in linked_module_dirs(scratch):
        if os.path.basename(os.path.dirname(module_dir)) == "checkouts":
            continue
        checkout = checkout_of(module_dir)
        if checkout is None:
            continue  # ticketd's own modules
        if checkout not in packages:
            sys.exit(f"licenses: {module_dir} comes from {checkout}, which the workspace does not know")
        used.add(checkout)

    for name in sorted(used, key=str.lower):
        location, version = packages[name]
        path = os.path.join(scratch, "checkouts", name)
        kind, text = licence_of(path)
        print()
        print(f"{name} {version} ({location}):")
        if kind == "Apache-2.0":
            notice = os.path.join(path, "NOTICE.txt")
            if os.path.exists(notice):
                print("  License: Apache License, Version 2.0. Its NOTICE file:")
                print()
                for line in open(notice, errors="replace").read().strip("\n").splitlines():
                    print(f"    {line}".rstrip())
            else:
                print(f"  Copyright the {name} authors.")
                print("  License: Apache License, Version 2.0.")
        else:
            print(f"  License: {'MIT' if kind == 'MIT' else 'as follows'}:")
            print()
            for line in text.strip("\n").splitlines():
                print(f"    {line}".rstrip())
            if name == "Yams" and os.path.isdir(os.path.join(path, "Sources", "CYaml")):
                print()
                print("  Yams includes LibYAML: Copyright (c) 2017-2020 Ingy döt Net, Copyright (c) 2006-2016")
                print("  Kirill Simonov; under the same MIT licence terms as above.")


if __name__ == "__main__":
    main()
