"""Makes ticketd(1): the page swift-argument-parser's generate-manual wrote from the binary, with
the hand-written parts of packaging/man/ticketd.1.extra put in.

Usage: python3 scripts/package.d/manual.py GENERATED.1 EXTRA > ticketd.1

  description  after `.Sh DESCRIPTION`, before the generated list of commands and flags
  files        before `.Sh "EXIT STATUS"` (a FILES section)
  tail         after the generated exit status (`.Ex -std`), to the end
Fails if the generated page lacks one of those places, so a change of the generator is noticed.
"""

import sys


def parts(path):
    named, name = {}, None
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.startswith('.\\" @@ '):
            name = line[len('.\\" @@ '):].strip()
            named[name] = []
        elif name is not None:
            named[name].append(line)
    return named


def main():
    generated = open(sys.argv[1], encoding="utf-8").read().splitlines()
    extra = parts(sys.argv[2])
    out, seen = [], set()
    for line in generated:
        if line == '.Sh "EXIT STATUS"':
            out.extend(extra["files"])
            seen.add("files")
        out.append(line)
        if line == ".Sh DESCRIPTION":
            out.extend(extra["description"])
            seen.add("description")
    if out and out[-1] == ".Ex -std":
        out.extend(extra["tail"])
        seen.add("tail")
    missing = {"description", "files", "tail"} - seen
    if missing:
        sys.exit(f"manual: the generated page has no place for {sorted(missing)}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
