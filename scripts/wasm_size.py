"""Where a wasm module's code bytes go, by crate: reads the code and name
sections of a module built with names kept (scripts/wasm-size.sh makes one)
and sums function body sizes by the crate in each function's mangled name.

    python3 scripts/wasm_size.py module.wasm [--top N]
"""
import collections
import re
import sys


def leb(b, i):
    """An unsigned LEB128 at b[i]: (value, next index)."""
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def skip_import(b, j):
    for _ in range(2):  # module and field names
        n, j = leb(b, j)
        j += n
    kind = b[j]
    j += 1
    if kind == 0:  # function: type index
        _, j = leb(b, j)
        return j, True
    if kind == 1:  # table: reftype, limits
        j += 1
    if kind in (1, 2):  # limits
        flags, j = leb(b, j)
        _, j = leb(b, j)
        if flags & 1:
            _, j = leb(b, j)
        return j, False
    return j + 2, False  # global: type, mutability


def read(path):
    data = open(path, "rb").read()
    sections, names, bodies, imported = collections.Counter(), {}, [], 0
    i = 8
    while i < len(data):
        sid = data[i]
        size, i = leb(data, i + 1)
        end = i + size
        if sid == 0:
            n, j = leb(data, i)
            name = data[j:j + n].decode()
            sections["custom " + name] += size
            if name == "name":
                j += n
                while j < end:
                    sub, (ss, j) = data[j], leb(data, j + 1)
                    if sub == 1:
                        count, k = leb(data, j)
                        for _ in range(count):
                            idx, k = leb(data, k)
                            n2, k = leb(data, k)
                            names[idx] = data[k:k + n2].decode("utf8", "replace")
                            k += n2
                    j += ss
        else:
            sections[{1: "type", 2: "import", 3: "function", 7: "export", 10: "code", 11: "data"}.get(sid, f"section {sid}")] += size
            if sid == 2:
                count, j = leb(data, i)
                for _ in range(count):
                    j, is_func = skip_import(data, j)
                    imported += is_func
            if sid == 10:
                count, j = leb(data, i)
                for k in range(count):
                    n, j2 = leb(data, j)
                    bodies.append((imported + k, j2 - j + n))
                    j = j2 + n
        i = end
    return len(data), sections, names, bodies


CRATES = ["serde_json", "serde_wasm_bindgen", "serde_path_to_error", "serde", "safetensors", "wasm_bindgen", "js_sys", "ndarray", "hashbrown", "dlmalloc", "rand", "mtfuse", "alloc", "core", "std"]


def crate_of(name):
    # Legacy (_ZN) and v0 (_R) mangling both spell crate names as plain words.
    for c in CRATES:
        if re.search(rf"(^|[^a-z_]){c}([^a-z_]|$)", name):
            return c
    return "unnamed (wasm-bindgen shims, merged functions)"


def main():
    path = sys.argv[1]
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 0
    total, sections, names, bodies = read(path)
    print(f"{path}: {total:,} bytes")
    print("| section | bytes |\n|---|---:|")
    for k, v in sections.most_common():
        print(f"| {k} | {v:,} |")
    by_crate = collections.Counter()
    for idx, n in bodies:
        by_crate[crate_of(names.get(idx, ""))] += n
    code = sum(by_crate.values())
    print("\n| code by crate | bytes | share of code |\n|---|---:|---:|")
    for k, v in by_crate.most_common():
        print(f"| {k} | {v:,} | {100 * v / code:.0f}% |")
    if top:
        print("\n| largest functions | bytes |\n|---|---:|")
        for idx, n in sorted(bodies, key=lambda b: -b[1])[:top]:
            print(f"| `{re.sub(r'17h[0-9a-f]{16}E$', '', names.get(idx, str(idx)))[:100]}` | {n:,} |")


if __name__ == "__main__":
    main()
